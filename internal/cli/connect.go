package cli

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aias-dev/aias/internal/apiclient"
)

// connFlags are the connection settings every user command takes. Each falls back as
// documented on connect; a flag always wins.
type connFlags struct {
	server, token           string
	kubeconfig, kubeContext string
	namespace               string
	caFile                  string
	insecure                bool
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "URL of the AIAS user API (default: $"+envServer+")")
	fs.StringVar(&c.token, "token", "", "Kubernetes bearer token (default: $"+envUserToken+", else the kubeconfig context's token or credential plugin)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file for the token and namespace (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&c.kubeContext, "context", "", "kubeconfig context (default: the current one)")
	fs.StringVar(&c.namespace, "n", "", "namespace (default: the kubeconfig context's, else \"default\")")
	fs.StringVar(&c.namespace, "namespace", "", "same as -n")
	fs.StringVar(&c.caFile, "certificate-authority", "", "PEM file of the CA that signed the user API's certificate")
	fs.BoolVar(&c.insecure, "insecure-skip-tls-verify", false, "do not verify the user API's certificate (testing only)")
}

// connect resolves the settings and returns a client and the namespace:
//   - server: --server, else $AIAS_SERVER (or the deprecated $AIAS_API_URL);
//   - token: --token, else $AIAS_USER_TOKEN (or the deprecated $AIAS_TOKEN), else the
//     bearer token (or token file) of the kubeconfig context (--kubeconfig, $KUBECONFIG, ~/.kube/config; --context), else
//     the token its credential plugin (exec or auth provider) hands out;
//   - namespace: -n, else the kubeconfig context's namespace, else "default".
//
// The kubeconfig is read only when the token or the namespace is still missing, so
// flags and environment alone work without one.
func (c *connFlags) connect() (*apiclient.Client, string, error) {
	server := cmp.Or(c.server, getenv(envServer, deprecatedEnvServer))
	if server == "" {
		return nil, "", errors.New("no AIAS user API server is configured: pass --server <url> or set " + envServer + " " +
			"(the user listener of `aias webhookserver`, e.g. http://127.0.0.1:8081 under `aias dev`)")
	}
	token := cmp.Or(c.token, getenv(envUserToken, deprecatedEnvUserToken))
	ns := c.namespace
	var plugin *rest.Config // the context's exec or auth-provider credentials, when it has no static token
	if token == "" || ns == "" {
		kc, err := c.fromKubeconfig()
		if err != nil && token == "" {
			return nil, "", fmt.Errorf("no token for the AIAS user API: pass --token or set %s (%v)", envUserToken, err)
		}
		if token == "" {
			token, plugin = kc.token, kc.plugin
		}
		if ns == "" {
			ns = kc.namespace
		}
		if token == "" && plugin == nil {
			return nil, "", fmt.Errorf("no token for the AIAS user API: pass --token or set %s "+
				"(kubeconfig context %q has no bearer token or credential plugin; `kubectl create token <serviceaccount> -n <namespace>` makes one)", envUserToken, kc.context)
		}
	}
	if ns == "" {
		ns = "default"
	}
	httpClient, err := c.httpClient()
	if err != nil {
		return nil, "", err
	}
	if plugin != nil {
		// The plugin (EKS, GKE, AKS, OIDC login helpers…) hands out the token, refreshing
		// it as kubectl would; client-go's wrapper puts it on each request.
		base := cmp.Or[http.RoundTripper](httpClient.Transport, http.DefaultTransport)
		rt, err := rest.HTTPWrappersForConfig(plugin, base)
		if err != nil {
			return nil, "", fmt.Errorf("kubeconfig credential plugin: %w", err)
		}
		httpClient = &http.Client{Transport: rt}
	}
	cl, err := apiclient.New(server, token, httpClient)
	return cl, ns, err
}

// kubeSettings is what the CLI takes from a kubeconfig context: a static token, or the
// context's credential plugin (exec or auth provider) as a config that holds only it.
type kubeSettings struct {
	context, token, namespace string
	plugin                    *rest.Config
}

func (c *connFlags) fromKubeconfig() (kubeSettings, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.kubeContext})
	raw, err := loader.RawConfig()
	if err != nil {
		return kubeSettings{}, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	name := cmp.Or(c.kubeContext, raw.CurrentContext)
	kctx, ok := raw.Contexts[name]
	if !ok {
		if name == "" {
			return kubeSettings{}, fmt.Errorf("%s selects no kubeconfig context (a missing file selects none)", kubeconfigSource(rules))
		}
		return kubeSettings{context: name}, fmt.Errorf("kubeconfig has no context %q", name)
	}
	s := kubeSettings{context: name, namespace: kctx.Namespace}
	if user, ok := raw.AuthInfos[kctx.AuthInfo]; ok {
		s.token = user.Token
		if s.token == "" && user.TokenFile != "" {
			// The loading rules made the path absolute (relative to the kubeconfig).
			b, err := os.ReadFile(user.TokenFile)
			if err != nil {
				return s, fmt.Errorf("kubeconfig user %q: %w", kctx.AuthInfo, err)
			}
			s.token = strings.TrimSpace(string(b))
		}
		if s.token == "" && (user.Exec != nil || user.AuthProvider != nil) {
			cfg, err := loader.ClientConfig()
			if err != nil {
				return s, fmt.Errorf("kubeconfig user %q: %w", kctx.AuthInfo, err)
			}
			// Only the plugin: no client certificate, basic auth or impersonation of the
			// apiserver connection goes to the AIAS API. Host and CA stay for plugins that
			// ask for the cluster's details (provideClusterInfo).
			s.plugin = &rest.Config{Host: cfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CAData, CAFile: cfg.CAFile, ServerName: cfg.ServerName},
				ExecProvider: cfg.ExecProvider, AuthProvider: cfg.AuthProvider, AuthConfigPersister: cfg.AuthConfigPersister}
		}
	}
	return s, nil
}

// httpClient has no overall timeout: logs -f and downloads run as long as they need;
// single calls are bounded by their context.
func (c *connFlags) httpClient() (*http.Client, error) {
	if c.caFile == "" && !c.insecure {
		return http.DefaultClient, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: c.insecure} //nolint:gosec // the user asked for it by flag
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr}, nil
}

// kubeconfigSource names where the kubeconfig was looked for, for messages.
func kubeconfigSource(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return "--kubeconfig " + rules.ExplicitPath
	}
	if kc := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); kc != "" {
		return "KUBECONFIG=" + kc
	}
	return "~/.kube/config"
}

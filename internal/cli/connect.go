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
	fs.StringVar(&c.server, "server", "", "URL of the AIAS user API (default: $AIAS_API_URL)")
	fs.StringVar(&c.token, "token", "", "Kubernetes bearer token (default: $AIAS_TOKEN, else the kubeconfig context's token)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file for the token and namespace (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&c.kubeContext, "context", "", "kubeconfig context (default: the current one)")
	fs.StringVar(&c.namespace, "n", "", "namespace (default: the kubeconfig context's, else \"default\")")
	fs.StringVar(&c.namespace, "namespace", "", "same as -n")
	fs.StringVar(&c.caFile, "certificate-authority", "", "PEM file of the CA that signed the user API's certificate")
	fs.BoolVar(&c.insecure, "insecure-skip-tls-verify", false, "do not verify the user API's certificate (testing only)")
}

// connect resolves the settings and returns a client and the namespace:
//   - server: --server, else $AIAS_API_URL;
//   - token: --token, else $AIAS_TOKEN, else the bearer token (or token file) of the
//     kubeconfig context (--kubeconfig, $KUBECONFIG, ~/.kube/config; --context);
//   - namespace: -n, else the kubeconfig context's namespace, else "default".
//
// The kubeconfig is read only when the token or the namespace is still missing, so
// flags and environment alone work without one.
func (c *connFlags) connect() (*apiclient.Client, string, error) {
	server := cmp.Or(c.server, os.Getenv("AIAS_API_URL"))
	if server == "" {
		return nil, "", errors.New("no AIAS user API server is configured: pass --server <url> or set AIAS_API_URL " +
			"(the user listener of `aias webhookserver`, e.g. http://127.0.0.1:8081 under `aias dev`)")
	}
	token := cmp.Or(c.token, os.Getenv("AIAS_TOKEN"))
	ns := c.namespace
	if token == "" || ns == "" {
		kc, err := c.fromKubeconfig()
		if err != nil && token == "" {
			return nil, "", fmt.Errorf("no token for the AIAS user API: pass --token or set AIAS_TOKEN (%v)", err)
		}
		if token == "" {
			token = kc.token
		}
		if ns == "" {
			ns = kc.namespace
		}
		if token == "" {
			return nil, "", fmt.Errorf("no token for the AIAS user API: pass --token or set AIAS_TOKEN "+
				"(kubeconfig context %q has no bearer token; `kubectl create token <serviceaccount> -n <namespace>` makes one)", kc.context)
		}
	}
	if ns == "" {
		ns = "default"
	}
	httpClient, err := c.httpClient()
	if err != nil {
		return nil, "", err
	}
	cl, err := apiclient.New(server, token, httpClient)
	return cl, ns, err
}

// kubeSettings is what the CLI takes from a kubeconfig context.
type kubeSettings struct{ context, token, namespace string }

func (c *connFlags) fromKubeconfig() (kubeSettings, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.kubeconfig
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: c.kubeContext}).RawConfig()
	if err != nil {
		return kubeSettings{}, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	name := cmp.Or(c.kubeContext, raw.CurrentContext)
	kctx, ok := raw.Contexts[name]
	if !ok {
		if name == "" {
			return kubeSettings{}, errors.New("no kubeconfig context is selected")
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

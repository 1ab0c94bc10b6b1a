package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/sharedflags"
	"github.com/aias-dev/aias/internal/signature"
)

const triggerSynopsis = "trigger <endpoint> [-n namespace] [--data @file|-|text] [--url base] [--delivery-id id]"

// runTrigger is `aias trigger <endpoint> [-n ns] [--data @file|-|text]`: it signs a
// payload with the endpoint's newest signing key (read with the caller's kubeconfig) the
// way the endpoint's scheme expects, POSTs it, and prints the Run it started.
func runTrigger(args []string) error {
	fs := newFlags("trigger", triggerSynopsis)
	namespace := fs.String("n", "", "namespace of the endpoint (default: the kubeconfig context's)")
	data := fs.String("data", "{}", "payload: text, @file, or - for stdin")
	baseURL := fs.String("url", "", "base URL of the hook listener, when the endpoint's status.url is only a path")
	deliveryID := fs.String("delivery-id", "", "delivery id (default: a random one; repeat one to see deduplication)")
	contentType := fs.String("content-type", "application/json", "Content-Type of the payload")
	// Flags may follow the endpoint name, as in kubectl.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := sharedflags.Parse(fs, args); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 || name == "" {
		return fmt.Errorf("usage: %s %s", progName(), triggerSynopsis)
	}

	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return explainNoKubeconfig("trigger", err)
	}
	if *namespace == "" {
		if *namespace, _, err = loader.Namespace(); err != nil {
			return err
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: manager.NewScheme()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ep := &aiasv1alpha1.WebhookEndpoint{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: *namespace, Name: name}, ep); err != nil {
		return err
	}
	secretName := ep.SigningSecretName()
	if secretName == "" {
		// The controller has not vouched for the generated Secret yet.
		secretName = aiasv1alpha1.GeneratedSigningSecretName(name)
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: *namespace, Name: secretName}, secret); err != nil {
		return fmt.Errorf("reading the signing secret: %w", err)
	}
	keys, err := signature.Keys(secret.Data)
	if err != nil {
		return fmt.Errorf("secret %s: %w", secretName, err)
	}
	verification := signature.ConfigFor(ep.Spec.Verification)
	usable := signature.Usable(verification, keys)
	if len(usable) == 0 {
		return fmt.Errorf("secret %s has no signing key the endpoint's scheme can use: %w", secretName, signature.CheckKeys(verification, keys))
	}

	body, err := payload(*data)
	if err != nil {
		return err
	}
	target := ep.Status.URL
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		if *baseURL == "" {
			return fmt.Errorf("endpoint %s has no absolute URL in status (%q): pass --url <base of the hook listener>", name, target)
		}
		target = strings.TrimRight(*baseURL, "/") + fmt.Sprintf("/hooks/%s/%s", *namespace, name)
	}
	id := *deliveryID
	if id == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		id = "trg_" + hex.EncodeToString(b)
	}
	headers, err := signature.Sign(verification, usable[0], id, body, time.Now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", *contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var accepted struct{ Namespace, Run, Status, Error, Reason string }
	_ = json.Unmarshal(out, &accepted)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s (%s)", resp.Status, accepted.Error, accepted.Reason)
	}
	if accepted.Run == "" {
		// 200 "filtered": verified, and the endpoint's spec.filter said no.
		fmt.Printf("%s: the endpoint's filter started no run (namespace %s, delivery %s)\n", accepted.Status, accepted.Namespace, id)
		return nil
	}
	fmt.Printf("run/%s %s (namespace %s, delivery %s)\n", accepted.Run, accepted.Status, accepted.Namespace, id)
	return nil
}

func payload(data string) ([]byte, error) {
	switch {
	case data == "-":
		return io.ReadAll(os.Stdin)
	case strings.HasPrefix(data, "@"):
		return os.ReadFile(data[1:])
	default:
		return []byte(data), nil
	}
}

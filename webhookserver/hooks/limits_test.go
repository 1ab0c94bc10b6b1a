package hooks_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/webhookserver"
)

// The public listener, as `aias webhookserver` serves it: a delivery that sends 10 of
// the 1000 body bytes it announced and stops loses its connection within the listener's
// read timeout (it used to hold it for as long as it liked).
func TestPublicListenerClosesStalledDelivery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := fmt.Sprintf("hooks-limits-%d", time.Now().UnixNano()%100000)
	if err := testEnv.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "push", Namespace: ns},
		Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}}}
	if err := testEnv.Client.Create(ctx, ep); err != nil {
		t.Fatal(err)
	}
	ep.Status.SecretRef = &aiasv1alpha1.SecretReference{Name: "push-signing"}
	if err := testEnv.Client.Status().Update(ctx, ep); err != nil {
		t.Fatal(err)
	}
	if err := testEnv.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "push-signing", Namespace: ns},
		Data: map[string][]byte{"secret": []byte(testSecret)}}); err != nil {
		t.Fatal(err)
	}

	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	addrs, wait, err := webhookserver.Start(ctx, webhookserver.Options{PublicAddr: "127.0.0.1:0", UserAddr: "0", InternalAddr: "0", MetricsAddr: "0",
		DatabaseURL: testStore.Pool().Config().ConnString(), StepTokenKeyFile: keyFile, RestConfig: testEnv.Config,
		PublicLimits: webhookserver.Limits{ReadTimeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	path := "/hooks/" + ns + "/push"
	// Until the listener's cache has the endpoint and its Secret, a signed probe is 401
	// Unverified; then 400 (its Content-Type is refused once it verified).
	deadline := time.Now().Add(10 * time.Second)
	for {
		probe := sign(t, std, testSecret, fmt.Sprintf("probe-%d", time.Now().UnixNano()), []byte("{}"), time.Now())
		probe.Set("Content-Type", "not a type")
		req, _ := http.NewRequest(http.MethodPost, "http://"+addrs.Public+path, bytes.NewReader([]byte("{}")))
		req.Header = probe
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadRequest {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the listener does not see the endpoint: %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}

	c, err := net.Dial("tcp", addrs.Public)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: hooks\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":\"1234", path)
	_ = c.SetReadDeadline(start.Add(10 * time.Second))
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err == nil {
		t.Logf("answered %d after %v", resp.StatusCode, time.Since(start).Round(time.Millisecond))
	}
	_, err = io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the stalled delivery still holds its connection after 10s")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("closed after %v, want about the 1s read timeout", took)
	}
}

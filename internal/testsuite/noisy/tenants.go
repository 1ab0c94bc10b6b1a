package noisy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
)

// Tenant is one tenant of the scenario: its namespace (a Tenant on a Plan of its own),
// the Workflows and WebhookEndpoints the scenario uses, the signing secret the test holds
// and a token of a ServiceAccount that may read its Runs, logs and artifacts.
type Tenant struct {
	NS     string
	Secret string
	Token  string
	s      *Stack
}

// The Workflows every tenant has.
const (
	// workflowQuick prints a few lines and a small result: B's steady work.
	workflowQuick = "quick"
	// workflowHold prints logLines lines, then waits for its gate file (or 10 minutes): an
	// attempt that stays open, for uploads, follows and log pages.
	workflowHold = "hold"
	logLines     = 3000
)

const quickScript = `echo "step of $AIAS_RUN"; i=0; while [ $i -lt 20 ]; do echo "line $i"; i=$((i+1)); done; echo '{"ok":true}'`

const holdScript = `i=0; while [ $i -lt ` + "3000" + ` ]; do echo "line $i of a log that a tenant reads in large pages: padding padding padding padding"; i=$((i+1)); done
w=0; while [ ! -e "$GATE_FILE" ] && [ $w -lt 3000 ]; do sleep 0.2; w=$((w+1)); done`

// NewTenant creates tenant name on a Plan with limits and waits until its namespace
// exists and the webhookserver knows its endpoints.
func (s *Stack) NewTenant(ctx context.Context, name string, limits aiasv1alpha1.PlanLimits) (*Tenant, error) {
	c := s.Env.Client
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	tn := &Tenant{NS: name, Secret: "whsec_" + base64.StdEncoding.EncodeToString(raw), s: s}
	plan := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: name + "-plan"}, Spec: aiasv1alpha1.PlanSpec{Limits: limits}}
	if err := c.Create(ctx, plan); err != nil {
		return nil, err
	}
	if err := c.Create(ctx, &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: aiasv1alpha1.TenantSpec{Plan: plan.Name}}); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, ns); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the Tenant controller did not create namespace %s", name)
		}
	}
	gate := s.dir + "/gate-" + name
	steps := map[string]string{workflowQuick: quickScript, workflowHold: holdScript}
	for wf, script := range steps {
		if err := c.Create(ctx, &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: wf, Namespace: name},
			Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{
				Name: "main", Image: "busybox:1.37", Command: []string{"sh", "-c", script},
				Env:     []corev1.EnvVar{{Name: "GATE_FILE", Value: gate}},
				Timeout: &metav1.Duration{Duration: 15 * time.Minute},
			}}}}); err != nil {
			return nil, err
		}
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-key", Namespace: name},
		Data: map[string][]byte{signature.SecretKey: []byte(tn.Secret)}}); err != nil {
		return nil, err
	}
	for _, ep := range []struct {
		name, workflow, filter string
		maxBody                int64
	}{
		{"work", workflowQuick, "", 0},
		{"noise", workflowQuick, "false", 0},
		{"big", workflowQuick, "", 32 << 20},
	} {
		o := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Name: ep.name, Namespace: name},
			Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: ep.workflow}, Filter: ep.filter,
				Verification: aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeStandardWebhooks, SecretRef: &aiasv1alpha1.SecretReference{Name: "hook-key"}}}}
		if ep.maxBody > 0 {
			o.Spec.MaxBodyBytes = ptr.To(ep.maxBody)
		}
		if err := c.Create(ctx, o); err != nil {
			return nil, err
		}
	}
	token, err := fixtures.RunReader(ctx, s.Env, name)
	if err != nil {
		return nil, err
	}
	tn.Token = token
	for _, ep := range []string{"work", "noise", "big"} {
		if err := tn.awaitEndpoint(ctx, ep); err != nil {
			return nil, err
		}
	}
	return tn, nil
}

// signed is a delivery of body signed with the tenant's key.
func (tn *Tenant) signed(ctx context.Context, endpoint, id string, body []byte) (*http.Request, error) {
	h, err := signature.Sign(signature.Config{Scheme: signature.StandardWebhooks}, signature.Key{Name: signature.SecretKey, Value: []byte(tn.Secret)}, id, body, time.Now())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tn.s.Public+"/hooks/"+tn.NS+"/"+endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// awaitEndpoint waits until a signed probe verifies (400 for its Content-Type; before, it
// is 401 Unverified like every delivery that does not verify).
func (tn *Tenant) awaitEndpoint(ctx context.Context, endpoint string) error {
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		req, err := tn.signed(ctx, endpoint, fmt.Sprintf("probe-%d", time.Now().UnixNano()), []byte("{}"))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "not a type")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhookserver does not know endpoint %s/%s after 60 s", tn.NS, endpoint)
		}
	}
}

// Gate opens the gate the tenant's hold steps wait for.
func (tn *Tenant) openGate() error {
	return writeFile(tn.s.dir+"/gate-"+tn.NS, "open")
}

package deliveryexpr

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

const push = `{"ref":"refs/heads/main","after":"abc123","commits":[{"id":1},{"id":2}],"size":2}`

func compileT(t *testing.T, spec aiasv1alpha1.WebhookEndpointSpec) *Program {
	t.Helper()
	p, err := Compile(&spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFilterAndParams(t *testing.T) {
	p := compileT(t, aiasv1alpha1.WebhookEndpointSpec{
		Filter: `body.ref == "refs/heads/main" && headers["x-github-event"] == "push" && size(body.commits) == body.size`,
		Params: map[string]string{
			"branch": `body.ref.split("/")[2]`, "sha": "body.after", "count": "size(body.commits)", "id": "deliveryID",
			"ratio": "body.size / 4.0", "hasAuth": `"authorization" in headers || "x-hub-signature-256" in headers`,
		},
	})
	h := http.Header{"X-Github-Event": {"push"}, "Authorization": {"Bearer s3cret"}, "X-Hub-Signature-256": {"sha256=..."}}
	res, err := p.Evaluate(context.Background(), Delivery{Body: []byte(push), Header: h, DeliveryID: "d-1"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"branch": "main", "sha": "abc123", "count": "2", "id": "d-1", "ratio": "0.5", "hasAuth": "false"}
	if !res.Passed || len(res.Params) != len(want) {
		t.Fatalf("result %+v", res)
	}
	for k, v := range want {
		if res.Params[k] != v {
			t.Errorf("%s = %q, want %q", k, res.Params[k], v)
		}
	}
	res, err = p.Evaluate(context.Background(), Delivery{Body: []byte(strings.Replace(push, "main", "dev", 1)), Header: h})
	if err != nil || res.Passed || res.Params != nil {
		t.Errorf("dev push: %+v, %v", res, err)
	}
}

func TestTextBody(t *testing.T) {
	p := compileT(t, aiasv1alpha1.WebhookEndpointSpec{Filter: `body.startsWith("hello")`, Params: map[string]string{"who": `body.substring(6)`}})
	res, err := p.Evaluate(context.Background(), Delivery{Body: []byte("hello world")})
	if err != nil || !res.Passed || res.Params["who"] != "world" {
		t.Errorf("%+v, %v", res, err)
	}
}

func TestCompileErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		spec  aiasv1alpha1.WebhookEndpointSpec
		field string
	}{
		{aiasv1alpha1.WebhookEndpointSpec{Filter: `body.ref ==`}, "spec.filter"},
		{aiasv1alpha1.WebhookEndpointSpec{Filter: `"main"`}, "spec.filter"},
		{aiasv1alpha1.WebhookEndpointSpec{Filter: `nosuchvar == 1`}, "spec.filter"},
		{aiasv1alpha1.WebhookEndpointSpec{Params: map[string]string{"a": "body.x", "b": "[1, 2]"}}, "spec.params.b"},
		{aiasv1alpha1.WebhookEndpointSpec{Params: map[string]string{"a": "body.x +"}}, "spec.params.a"},
	} {
		_, err := Compile(&tc.spec)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want an error naming %s", tc.spec, err, tc.field)
		}
	}
}

// A delivery that makes an expression fail, or one that would run away, is an error
// naming the field, returned promptly.
func TestEvaluationErrorsAndBounds(t *testing.T) {
	p := compileT(t, aiasv1alpha1.WebhookEndpointSpec{Params: map[string]string{"x": "body.missing.field"}})
	_, err := p.Evaluate(context.Background(), Delivery{Body: []byte(`{}`)})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "spec.params.x" {
		t.Errorf("missing field: %v", err)
	}
	p = compileT(t, aiasv1alpha1.WebhookEndpointSpec{Params: map[string]string{"x": "body.items"}})
	if _, err := p.Evaluate(context.Background(), Delivery{Body: []byte(`{"items":[1]}`)}); err == nil || !strings.Contains(err.Error(), "not a string") {
		t.Errorf("list param: %v", err)
	}
	// Quadratic-and-worse over a few thousand items: stopped by the cost limit.
	items := "[" + strings.Repeat("1,", 3000) + "1]"
	p = compileT(t, aiasv1alpha1.WebhookEndpointSpec{Filter: `body.items.all(a, body.items.all(b, body.items.exists(c, a + b + c < 0) == false))`})
	start := time.Now()
	_, err = p.Evaluate(context.Background(), Delivery{Body: []byte(`{"items":` + items + `}`)})
	if err == nil || !errors.As(err, &fe) || fe.Field != "spec.filter" {
		t.Errorf("runaway filter: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("runaway filter took %s", d)
	}
}

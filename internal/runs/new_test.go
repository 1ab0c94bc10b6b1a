package runs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

var tick = time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// request is a valid request of trigger kind from source src.
func request(kind aiasv1alpha1.TriggerType, src Source) Request {
	req := Request{
		Namespace: "acme", Workflow: aiasv1alpha1.WorkflowReference{Name: "release-notes"},
		Trigger: kind, Source: src, Params: map[string]string{"branch": "main"},
		Input: Input{Inline: ptr(`{"ref":"main"}`)},
	}
	switch kind {
	case aiasv1alpha1.TriggerWebhook:
		req.DeliveryID = "msg_1"
	case aiasv1alpha1.TriggerRedelivery:
		req.DeliveryID, req.StoredDelivery, req.Caller, req.IdempotencyKey = "msg_1", 7, "alice", "k1"
	case aiasv1alpha1.TriggerManual:
		req.Caller, req.IdempotencyKey = "alice", "k1"
	case aiasv1alpha1.TriggerReplay:
		req.IdempotencyKey = "k1"
	case aiasv1alpha1.TriggerSchedule:
		req.Tick = tick
	}
	return req
}

var (
	endpoint = Source{Name: "github-push", UID: "6f1d3c2a-0001-4000-8000-000000000001"}
	workflow = Source{Name: "release-notes", UID: "6f1d3c2a-0002-4000-8000-000000000002"}
	original = Source{Name: "release-notes-manual-1", UID: "6f1d3c2a-0003-4000-8000-000000000003"}
	schedule = Source{Name: "nightly", UID: "6f1d3c2a-0004-4000-8000-000000000004"}
)

var hashed = `[0-9a-f]{16}`

// Every trigger kind: the name's documented form, the trigger fields, labels and owner.
func TestNewEveryTrigger(t *testing.T) {
	owner := metav1.NewControllerRef(&aiasv1alpha1.Schedule{ObjectMeta: metav1.ObjectMeta{Name: "nightly", UID: "u"}},
		aiasv1alpha1.GroupVersion.WithKind("Schedule"))
	tests := []struct {
		kind     aiasv1alpha1.TriggerType
		src      Source
		owner    *metav1.OwnerReference
		name     string // a regexp
		trigger  aiasv1alpha1.RunTrigger
		labels   map[string]string
		replayOf string
	}{
		{kind: aiasv1alpha1.TriggerWebhook, src: endpoint, name: `github-push-` + hashed,
			trigger: aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerWebhook, Endpoint: "github-push", DeliveryID: "msg_1"},
			labels:  map[string]string{aiasv1alpha1.LabelWebhookEndpoint: "github-push"}},
		{kind: aiasv1alpha1.TriggerRedelivery, src: endpoint, name: `github-push-redelivery-` + hashed,
			trigger: aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerRedelivery, Endpoint: "github-push", DeliveryID: "msg_1"},
			labels:  map[string]string{aiasv1alpha1.LabelWebhookEndpoint: "github-push"}},
		{kind: aiasv1alpha1.TriggerManual, src: workflow, name: `release-notes-manual-` + hashed,
			trigger: aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerManual}},
		{kind: aiasv1alpha1.TriggerReplay, src: original, name: `release-notes-manual-1-replay-` + hashed,
			trigger: aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerReplay}, replayOf: "release-notes-manual-1"},
		{kind: aiasv1alpha1.TriggerSchedule, src: schedule, owner: owner, name: fmt.Sprintf(`nightly-%d`, tick.Unix()),
			trigger: aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerSchedule, Schedule: "nightly"},
			labels:  map[string]string{aiasv1alpha1.LabelSchedule: "nightly"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			req := request(tt.kind, tt.src)
			req.Owner = tt.owner
			run, err := New(req)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^` + tt.name + `$`).MatchString(run.Name) {
				t.Errorf("name %q, want %s", run.Name, tt.name)
			}
			if run.Namespace != "acme" || run.Spec.WorkflowRef.Name != "release-notes" || run.GenerateName != "" {
				t.Errorf("namespace %q, workflow %q, generateName %q", run.Namespace, run.Spec.WorkflowRef.Name, run.GenerateName)
			}
			if run.Spec.Trigger == nil || *run.Spec.Trigger != tt.trigger {
				t.Errorf("trigger %+v, want %+v", run.Spec.Trigger, tt.trigger)
			}
			if fmt.Sprint(run.Labels) != fmt.Sprint(tt.labels) {
				t.Errorf("labels %v, want %v", run.Labels, tt.labels)
			}
			if run.Spec.ReplayOf != tt.replayOf {
				t.Errorf("replayOf %q, want %q", run.Spec.ReplayOf, tt.replayOf)
			}
			if len(run.Finalizers) != 1 || run.Finalizers[0] != aiasv1alpha1.RunFinalizer {
				t.Errorf("finalizers %v, want the Run finalizer set at create", run.Finalizers)
			}
			if run.Spec.Input == nil || *run.Spec.Input != `{"ref":"main"}` || run.Spec.Params["branch"] != "main" {
				t.Errorf("input %v, params %v", run.Spec.Input, run.Spec.Params)
			}
			if (tt.owner == nil) != (len(run.OwnerReferences) == 0) || tt.owner != nil && run.OwnerReferences[0].UID != "u" {
				t.Errorf("owner references %+v, want %+v", run.OwnerReferences, tt.owner)
			}
			again, err := New(req)
			if err != nil || again.Name != run.Name {
				t.Errorf("the same request named %q, then %q (%v)", run.Name, again.Name, err)
			}
			if !req.Repeatable() {
				t.Error("a request with a delivery id, tick or Idempotency-Key is not repeatable")
			}
		})
	}
}

// The delivery and schedule names are documented and recorded in the delivery ledger:
// they are what they were before this package.
func TestDocumentedNamesKeepTheirForm(t *testing.T) {
	legacyDelivery := func(ep, uid, id string) string {
		sum := Hash(uid + "/" + id)
		prefix := ep
		if max := 63 - 16 - 1; len(prefix) > max {
			prefix = strings.TrimRight(prefix[:max], "-.")
		}
		return prefix + "-" + sum
	}
	for _, ep := range []string{"github-push", strings.Repeat("e", 46), strings.Repeat("e", 45) + ".f", strings.Repeat("a.b-", 60) + "c"} {
		req := request(aiasv1alpha1.TriggerWebhook, Source{Name: ep, UID: endpoint.UID})
		got, err := Name(req)
		if want := legacyDelivery(ep, endpoint.UID, "msg_1"); err != nil || got != want {
			t.Errorf("delivery to %q: %q (%v), want %q", ep, got, err, want)
		}
		if got != DeliveryName(ep, endpoint.UID, "msg_1") {
			t.Errorf("Name and DeliveryName differ for %q", ep)
		}
	}
	got, _ := Name(request(aiasv1alpha1.TriggerSchedule, schedule))
	if want := fmt.Sprintf("nightly-%d", tick.Unix()); got != want {
		t.Errorf("schedule tick: %q, want %q", got, want)
	}
}

// Without an Idempotency-Key each request is a new Run: a random key, never the clock.
func TestNoIdempotencyKeyIsANewRunEachTime(t *testing.T) {
	for _, kind := range []aiasv1alpha1.TriggerType{aiasv1alpha1.TriggerManual, aiasv1alpha1.TriggerReplay, aiasv1alpha1.TriggerRedelivery} {
		req := request(kind, endpoint)
		req.IdempotencyKey = ""
		if req.Repeatable() {
			t.Errorf("%s without a key is repeatable", kind)
		}
		seen := map[string]bool{}
		for range 1000 {
			run, err := New(req)
			if err != nil {
				t.Fatal(err)
			}
			if seen[run.Name] {
				t.Fatalf("%s without a key named two Runs %q", kind, run.Name)
			}
			seen[run.Name] = true
			if !regexp.MustCompile(`-` + hashed + `$`).MatchString(run.Name) {
				t.Fatalf("%s without a key: %q, want the same hashed form as with one", kind, run.Name)
			}
		}
		if req.IdempotencyKey != "" {
			t.Errorf("New changed the caller's request")
		}
	}
}

// Over many requests of every kind, with sources, UIDs, callers and keys chosen to
// collide when joined naively: no two requests share a name, every name is a valid Run
// name and label value, and the same request always gets the same name.
func TestNamesAreInjective(t *testing.T) {
	kinds := []aiasv1alpha1.TriggerType{aiasv1alpha1.TriggerWebhook, aiasv1alpha1.TriggerRedelivery,
		aiasv1alpha1.TriggerManual, aiasv1alpha1.TriggerReplay, aiasv1alpha1.TriggerSchedule}
	names := []string{"a", "a-b", "a-manual", "a-replay", "a-redelivery", "b", strings.Repeat("x", 60), strings.Repeat("x", 61),
		strings.Repeat("y.", 120) + "z"}
	// A UID is one object's: each name gets its own two (an object created again).
	uid := func(name string, i int) string {
		return fmt.Sprintf("6f1d3c2a-%04x-4000-8000-%012x", i, Hash(name)[:6])
	}
	words := []string{"", "k", "k\x00", "\x00k", "1", "2:k", "k/1"}
	seen := map[string]Request{}
	check := func(req Request) {
		t.Helper()
		name, err := Name(req)
		if err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		if prev, ok := seen[name]; ok && identity(prev) != identity(req) {
			t.Fatalf("%q names both\n%+v and\n%+v", name, prev, req)
		}
		seen[name] = req
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || len(name) > MaxNameLength {
			t.Fatalf("%q of %+v: %v", name, req, errs)
		}
		if errs := validation.IsValidLabelValue(name); len(errs) > 0 {
			t.Fatalf("%q of %+v is no label value: %v", name, req, errs)
		}
		if again, _ := Name(req); again != name {
			t.Fatalf("%+v named %q, then %q", req, name, again)
		}
	}
	for _, kind := range kinds {
		for _, n := range names {
			for i := range 2 {
				base := request(kind, Source{Name: n, UID: uid(n, i)})
				switch kind {
				case aiasv1alpha1.TriggerWebhook:
					for _, id := range words[1:] {
						req := base
						req.DeliveryID = id
						check(req)
					}
				case aiasv1alpha1.TriggerSchedule:
					for i := range 5 {
						req := base
						req.Tick = tick.Add(time.Duration(i) * time.Minute)
						check(req)
					}
				default:
					for _, caller := range words {
						for _, key := range words[1:] {
							for _, stored := range []int64{1, 11} {
								req := base
								req.IdempotencyKey = key
								if kind != aiasv1alpha1.TriggerReplay { // a replay's key is not per caller
									req.Caller = caller
								}
								if kind == aiasv1alpha1.TriggerRedelivery {
									req.StoredDelivery = stored
								}
								check(req)
							}
						}
					}
				}
			}
		}
	}
}

// identity is what names a request: everything but what the Run carries.
func identity(r Request) string {
	if r.Trigger == aiasv1alpha1.TriggerSchedule {
		// A tick is after the Schedule's creation, so no two Schedules of one name share
		// one: the name and the tick identify it (the package doc).
		return fmt.Sprintf("%s|%s|%d", r.Trigger, r.Source.Name, r.Tick.Unix())
	}
	return fmt.Sprintf("%s|%+v|%q|%d|%d|%q|%q", r.Trigger, r.Source, r.DeliveryID, r.StoredDelivery, r.Tick.Unix(), r.Caller, r.IdempotencyKey)
}

// A request's name depends on what identifies it, and only on that.
func TestNameDependsOnIdentityOnly(t *testing.T) {
	base := request(aiasv1alpha1.TriggerManual, workflow)
	name, _ := Name(base)
	same := base
	same.Params, same.Input, same.Namespace = map[string]string{"other": "x"}, Input{}, "other"
	if got, _ := Name(same); got != name {
		t.Errorf("params, input or namespace changed the name: %q, want %q", got, name)
	}
	for what, change := range map[string]func(*Request){
		"source UID": func(r *Request) { r.Source.UID = "6f1d3c2a-9999-4000-8000-000000000009" },
		"caller":     func(r *Request) { r.Caller = "bob" },
		"key":        func(r *Request) { r.IdempotencyKey = "k2" },
	} {
		req := base
		change(&req)
		if got, _ := Name(req); got == name {
			t.Errorf("another %s, the same name %q", what, got)
		}
	}
}

func TestIncompleteRequestsAreRefused(t *testing.T) {
	tests := map[string]func(*Request){
		"no namespace":          func(r *Request) { r.Namespace = "" },
		"no workflow":           func(r *Request) { r.Workflow.Name = "" },
		"no source":             func(r *Request) { r.Source.Name = "" },
		"no trigger":            func(r *Request) { r.Trigger = "" },
		"webhook without UID":   func(r *Request) { r.Trigger, r.Source.UID = aiasv1alpha1.TriggerWebhook, "" },
		"webhook without id":    func(r *Request) { r.Trigger, r.DeliveryID = aiasv1alpha1.TriggerWebhook, "" },
		"redelivery, no row":    func(r *Request) { r.Trigger, r.DeliveryID = aiasv1alpha1.TriggerRedelivery, "d" },
		"manual without UID":    func(r *Request) { r.Trigger, r.Source.UID = aiasv1alpha1.TriggerManual, "" },
		"replay without UID":    func(r *Request) { r.Trigger, r.Source.UID = aiasv1alpha1.TriggerReplay, "" },
		"schedule without tick": func(r *Request) { r.Trigger, r.Tick = aiasv1alpha1.TriggerSchedule, time.Time{} },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			req := request(aiasv1alpha1.TriggerManual, workflow)
			change(&req)
			if run, err := New(req); err == nil {
				t.Errorf("built %q", run.Name)
			}
		})
	}
}

type fakeStore struct {
	got []byte
	ct  string
	err error
}

func (f *fakeStore) PutInput(_ context.Context, _ string, content []byte, contentType string) (string, error) {
	f.got, f.ct = content, contentType
	return "sha256:" + strings.Repeat("0", 64), f.err
}

func TestPayload(t *testing.T) {
	ctx := context.Background()
	st := &fakeStore{}
	in, err := Payload(ctx, st, "acme", []byte(`{"a":1}`), "application/json")
	if err != nil || in.Inline == nil || *in.Inline != `{"a":1}` || in.Ref != nil || st.got != nil {
		t.Errorf("small text: %+v %v, stored %q", in, err, st.got)
	}
	in, err = Payload(ctx, st, "acme", []byte{0xff, 0xfe}, "")
	if err != nil || in.Inline != nil || in.Ref == nil || in.Ref.Size != 2 || in.Ref.ContentType != "application/octet-stream" || st.ct != "application/octet-stream" {
		t.Errorf("binary: %+v %v", in, err)
	}
	big := []byte(strings.Repeat("x", aiasv1alpha1.MaxInlineInputLength+1))
	in, err = Payload(ctx, st, "acme", big, "text/plain")
	if err != nil || in.Ref == nil || in.Ref.ContentType != "text/plain" || len(st.got) != len(big) {
		t.Errorf("large: %+v %v", in, err)
	}
	st.err = errors.New("down")
	if _, err := Payload(ctx, st, "acme", big, "text/plain"); err == nil {
		t.Error("a store that fails: no error")
	}
}

package runs

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// New builds the Run req asks for, named by Name. It only builds: the caller creates it,
// and an AlreadyExists for a Repeatable request means the Run was made before.
func New(req Request) (*aiasv1alpha1.Run, error) {
	if !req.Repeatable() {
		req.IdempotencyKey = rand.Text() // see the package doc: never the clock
	}
	name, err := Name(req)
	if err != nil {
		return nil, err
	}
	run := &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: req.Namespace,
			// Set at create, so the Run controller need not add it (one write less).
			Finalizers: []string{aiasv1alpha1.RunFinalizer},
		},
		Spec: aiasv1alpha1.RunSpec{
			WorkflowRef: req.Workflow,
			Trigger:     &aiasv1alpha1.RunTrigger{Type: req.Trigger},
			Params:      req.Params,
			Input:       req.Input.Inline,
			InputRef:    req.Input.Ref,
		},
	}
	switch req.Trigger {
	case aiasv1alpha1.TriggerWebhook, aiasv1alpha1.TriggerRedelivery:
		run.Labels = map[string]string{aiasv1alpha1.LabelWebhookEndpoint: LabelValue(req.Source.Name)}
		run.Spec.Trigger.Endpoint, run.Spec.Trigger.DeliveryID = req.Source.Name, req.DeliveryID
	case aiasv1alpha1.TriggerSchedule:
		run.Labels = map[string]string{aiasv1alpha1.LabelSchedule: LabelValue(req.Source.Name)}
		run.Spec.Trigger.Schedule = req.Source.Name
	case aiasv1alpha1.TriggerReplay:
		run.Spec.ReplayOf = req.Source.Name
	case aiasv1alpha1.TriggerResume:
		run.Spec.ResumeOf = req.Source.Name
	}
	if req.Owner != nil {
		run.OwnerReferences = []metav1.OwnerReference{*req.Owner}
	}
	return run, nil
}

// Name is the Run name of req (see the package doc). It fails for a request that lacks
// what its trigger's name is made of: a programming error, not a user's.
func Name(req Request) (string, error) {
	if err := check(req); err != nil {
		return "", err
	}
	src := req.Source
	switch req.Trigger {
	case aiasv1alpha1.TriggerWebhook:
		return DeliveryName(src.Name, src.UID, req.DeliveryID), nil
	case aiasv1alpha1.TriggerSchedule:
		return JoinName(src.Name, strconv.FormatInt(req.Tick.Unix(), 10)), nil
	case aiasv1alpha1.TriggerRedelivery:
		stored := strconv.FormatInt(req.StoredDelivery, 10)
		return wordName(src.Name, "redelivery", key(req.Trigger, src.UID, stored, req.Caller, req.IdempotencyKey)), nil
	case aiasv1alpha1.TriggerManual:
		return wordName(src.Name, "manual", key(req.Trigger, src.UID, req.Caller, req.IdempotencyKey)), nil
	case aiasv1alpha1.TriggerResume:
		return wordName(src.Name, "resume", key(req.Trigger, src.UID, req.IdempotencyKey)), nil
	default: // Replay
		return wordName(src.Name, "replay", key(req.Trigger, src.UID, req.IdempotencyKey)), nil
	}
}

// DeliveryName is the Run of delivery deliveryID to the endpoint named endpoint with UID
// endpointUID: `<endpoint>-<hash>`. It is the documented form the delivery ledger records,
// so its key predates v1 keys (package doc); the hook listener names the Run with it
// before it records the delivery.
func DeliveryName(endpoint, endpointUID, deliveryID string) string {
	return BoundedName(endpoint, false, endpointUID+"/"+deliveryID)
}

// check refuses a request without the fields its trigger's name is made of.
func check(req Request) error {
	var missing []string
	need := func(ok bool, what string) {
		if !ok {
			missing = append(missing, what)
		}
	}
	need(req.Namespace != "", "a namespace")
	need(req.Workflow.Name != "", "a workflow")
	need(req.Source.Name != "", "a source name")
	switch req.Trigger {
	case aiasv1alpha1.TriggerWebhook:
		need(req.Source.UID != "", "the endpoint's UID")
		need(req.DeliveryID != "", "a delivery id")
	case aiasv1alpha1.TriggerRedelivery:
		need(req.Source.UID != "", "the endpoint's UID")
		need(req.DeliveryID != "", "a delivery id")
		need(req.StoredDelivery > 0, "a delivery log id")
	case aiasv1alpha1.TriggerManual, aiasv1alpha1.TriggerReplay, aiasv1alpha1.TriggerResume:
		need(req.Source.UID != "", "the source's UID")
	case aiasv1alpha1.TriggerSchedule:
		need(!req.Tick.IsZero(), "a tick")
	default:
		return fmt.Errorf("no run name rule for trigger %q", req.Trigger)
	}
	if len(missing) > 0 {
		return fmt.Errorf("a %s run request needs %s", req.Trigger, strings.Join(missing, ", "))
	}
	return nil
}

// wordName is `<source>-<word>-<hash of key>`, the source cut so that the word and the
// hash fit in MaxNameLength.
func wordName(source, word, key string) string {
	room := MaxNameLength - len(word) - HashLength - 2
	return BoundedName(strings.TrimRight(source[:min(len(source), room)], "-.")+"-"+word, false, key)
}

// key encodes a trigger kind and its fields so that no two different tuples encode the
// same: each field is its length, ":", and itself.
func key(kind aiasv1alpha1.TriggerType, fields ...string) string {
	var b strings.Builder
	b.WriteString("aias.dev/run/v1/")
	for _, f := range append([]string{string(kind)}, fields...) {
		b.WriteString(strconv.Itoa(len(f)))
		b.WriteByte(':')
		b.WriteString(f)
	}
	return b.String()
}

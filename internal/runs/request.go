package runs

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Request is everything a Run is made from. Which fields a trigger uses:
//
//	Webhook     Source (the endpoint), DeliveryID
//	Redelivery  Source (the endpoint), DeliveryID, StoredDelivery, Caller, IdempotencyKey
//	Manual      Source (the workflow), Caller, IdempotencyKey
//	Replay      Source (the original Run), IdempotencyKey
//	Schedule    Source (the schedule), Tick, Owner
type Request struct {
	Namespace string
	// Workflow is the Workflow the Run runs.
	Workflow aiasv1alpha1.WorkflowReference
	Trigger  aiasv1alpha1.TriggerType
	// Source is the object the request came through: its name reads in the Run's name
	// (and in spec.trigger or spec.replayOf), its UID keys it.
	Source Source

	// DeliveryID is the sender's id of the delivery (Webhook, Redelivery).
	DeliveryID string
	// StoredDelivery is the delivery log row a Redelivery sends again.
	StoredDelivery int64
	// Tick is the Schedule's tick the Run is for (not the time it was noticed).
	Tick time.Time
	// Caller is the user who asked (Manual, Redelivery): keys are per caller, so two
	// users' keys never meet.
	Caller string
	// IdempotencyKey is the request's Idempotency-Key (Manual, Replay, Redelivery): a
	// repeated request with the same key names the same Run. Empty draws a random key.
	IdempotencyKey string

	Params map[string]string
	Input  Input
	// Owner, when set, becomes the Run's controller reference (a Schedule owns its Runs).
	Owner *metav1.OwnerReference
}

// Source names the object a Run comes from.
type Source struct {
	Name string
	UID  string
}

// Input is the Run's input: inline, or a reference to what the store holds (see Payload).
type Input struct {
	Inline *string
	Ref    *aiasv1alpha1.InputReference
}

// Repeatable reports whether the request's Run name is derived from something the
// requester will send again (a delivery id, a tick, an Idempotency-Key), so that an
// existing Run of that name is this request's, made before.
func (req *Request) Repeatable() bool {
	switch req.Trigger {
	case aiasv1alpha1.TriggerWebhook, aiasv1alpha1.TriggerSchedule:
		return true
	}
	return req.IdempotencyKey != ""
}

package billing

import (
	"cmp"
	"maps"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
)

// Stripe's subscription state machine, as pure functions. Billing keeps, per subscription,
// its events in their order (eventKey) and computes the subscription's state by applying
// them in that order (next), whatever order Stripe delivered them in; a Tenant's
// status.subscription shows one of its subscriptions (currentSubscription).

// maxSubscriptionHistory bounds the events kept per subscription: past it the oldest are
// folded into the record's base, and an event older than the base is stale.
const maxSubscriptionHistory = 32

// statusIncomplete: the first payment has not succeeded yet (entitlements names the others).
const statusIncomplete = "incomplete"

// subEvent is what one Stripe event says about one subscription.
type subEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"` // unix seconds: Stripe's resolution
	// From a subscription object (the customer.subscription.* events).
	Status     string `json:"status,omitempty"`
	PriceID    string `json:"priceID,omitempty"`
	PeriodEnd  int64  `json:"periodEnd,omitempty"`
	SubCreated int64  `json:"subCreated,omitempty"` // the subscription's own creation
}

// eventKey orders the events of one subscription: by creation second, then by rank (the
// tie rule for events of one second), then by id (so that the order is total).
type eventKey struct {
	Created int64  `json:"created"`
	Rank    int    `json:"rank"`
	ID      string `json:"id"`
}

// rank is an event type's place among the events of one subscription created in the same
// second, in the order Stripe's lifecycle produces them: the subscription is created, its
// invoice fails or is paid (a retry that succeeds comes after a failure), and the update
// that Stripe sends with those invoice events carries the subscription's own status after
// them, so it decides between past_due and active. Deletion ends everything.
func rank(typ string) int {
	switch typ {
	case stripeSubscriptionCreated:
		return 0
	case stripeInvoicePaymentFail:
		return 1
	case stripeInvoicePaid:
		return 2
	case stripeSubscriptionUpdated:
		return 3
	case stripeSubscriptionDeleted:
		return 4
	}
	return 5
}

func (e subEvent) key() eventKey { return eventKey{Created: e.Created, Rank: rank(e.Type), ID: e.ID} }

func (k eventKey) compare(o eventKey) int {
	if c := cmp.Compare(k.Created, o.Created); c != 0 {
		return c
	}
	if c := cmp.Compare(k.Rank, o.Rank); c != 0 {
		return c
	}
	return cmp.Compare(k.ID, o.ID)
}

// subState is a subscription as its events, applied in order, leave it.
type subState struct {
	ID           string `json:"id"`
	Status       string `json:"status,omitempty"`
	PriceID      string `json:"priceID,omitempty"`
	PeriodEnd    int64  `json:"periodEnd,omitempty"`
	PastDueSince int64  `json:"pastDueSince,omitempty"`
	// UpdatedAt is the creation time of the newest event applied.
	UpdatedAt int64 `json:"updatedAt,omitempty"`
	// SubCreated is the subscription's creation time: its object's, else its first event's.
	SubCreated int64 `json:"subCreated,omitempty"`
	// HasObject: a subscription object was seen (not only invoices naming the subscription).
	HasObject bool `json:"hasObject,omitempty"`
	// Ended: deleted (or canceled, or incomplete_expired); terminal in Stripe, and here.
	Ended bool `json:"ended,omitempty"`
}

// next is the subscription's state after event e, applied in order after the events that
// left it in state s. An ended subscription never changes.
func next(s subState, e subEvent) subState {
	if s.Ended {
		return s
	}
	if s.SubCreated == 0 {
		s.SubCreated = e.Created
	}
	switch e.Type {
	case stripeSubscriptionCreated, stripeSubscriptionUpdated, stripeSubscriptionDeleted:
		s.HasObject = true
		if e.SubCreated > 0 {
			s.SubCreated = e.SubCreated
		}
		if e.PriceID != "" {
			s.PriceID = e.PriceID
		}
		if e.PeriodEnd > 0 {
			s.PeriodEnd = e.PeriodEnd
		}
		switch {
		case e.Type == stripeSubscriptionDeleted:
			s.Status = entitlements.StatusCanceled
		case e.Status != "":
			s.Status = e.Status
		}
	case stripeInvoicePaid:
		// A paid invoice settles what was owed; a trial stays a trial.
		switch s.Status {
		case "", entitlements.StatusPastDue, entitlements.StatusUnpaid, statusIncomplete:
			s.Status = entitlements.StatusActive
		}
	case stripeInvoicePaymentFail:
		// A failed renewal makes a paying subscription past_due; an incomplete one stays
		// incomplete (its first payment) and an unpaid one unpaid.
		switch s.Status {
		case "", entitlements.StatusActive, entitlements.StatusTrialing:
			s.Status = entitlements.StatusPastDue
		}
	default:
		return s
	}
	s.UpdatedAt = max(s.UpdatedAt, e.Created)
	s.Ended = s.Status == entitlements.StatusCanceled || s.Status == entitlements.StatusIncompleteExpired
	switch {
	case s.Status != entitlements.StatusPastDue && s.Status != entitlements.StatusUnpaid:
		s.PastDueSince = 0
	case s.PastDueSince == 0:
		s.PastDueSince = e.Created
	}
	return s
}

// subRecord is what billing keeps of one subscription: a base state (the subscription's
// oldest events applied, or the Tenant's status when billing first saw the Tenant) and the
// events after it, in order.
type subRecord struct {
	Base subState `json:"base"`
	// BaseKey is the last event in Base; nil when Base is empty.
	BaseKey *eventKey  `json:"baseKey,omitempty"`
	Events  []subEvent `json:"events,omitempty"`
}

// Outcomes of placing an event in its subscription's record (see the outcome constants).
const (
	placedApplied   = billingApplied
	placedDuplicate = billingDuplicate
	placedStale     = billingStale
	placedEnded     = billingEnded
)

func newSubRecord(id string) subRecord { return subRecord{Base: subState{ID: id}} }

// state applies the record's events in order to its base.
func (r subRecord) state() subState {
	s := r.Base
	for _, e := range r.Events {
		s = next(s, e)
	}
	return s
}

// last is the newest event of the record (zero when none).
func (r subRecord) last() eventKey {
	if n := len(r.Events); n > 0 {
		return r.Events[n-1].key()
	}
	if r.BaseKey != nil {
		return *r.BaseKey
	}
	return eventKey{}
}

// place puts e in its place in the record and says what became of it: applied (it is in
// the history, in order), duplicate (already there), stale (older than the history kept:
// not applied) or ended (the subscription had ended: nothing changes it).
func (r *subRecord) place(e subEvent) string {
	if r.state().Ended {
		return placedEnded
	}
	k := e.key()
	if r.BaseKey != nil && k.compare(*r.BaseKey) <= 0 {
		return placedStale
	}
	i, found := slices.BinarySearchFunc(r.Events, k, func(x subEvent, k eventKey) int { return x.key().compare(k) })
	if found {
		return placedDuplicate
	}
	r.Events = slices.Insert(r.Events, i, e)
	if s := r.state(); s.Ended {
		// Terminal: the history can no longer matter.
		last := r.last()
		r.Base, r.BaseKey, r.Events = s, &last, nil
	}
	for len(r.Events) > maxSubscriptionHistory {
		first := r.Events[0].key()
		r.Base, r.BaseKey, r.Events = next(r.Base, r.Events[0]), &first, r.Events[1:]
	}
	r.Events = slices.Clip(r.Events)
	return placedApplied
}

// seedRecord starts the record of the subscription a Tenant's status already shows (written
// before billing kept records by UID): events of its second or later apply after it, older
// ones are stale, as they were then.
func seedRecord(st *aiasv1alpha1.SubscriptionStatus) subRecord {
	unix := func(t *metav1.Time) int64 {
		if t == nil {
			return 0
		}
		return t.Unix()
	}
	s := subState{ID: st.ID, Status: st.Status, PriceID: st.PriceID, PeriodEnd: unix(st.CurrentPeriodEnd),
		PastDueSince: unix(st.PastDueSince), UpdatedAt: unix(st.UpdatedAt), HasObject: st.PriceID != "",
		Ended: st.Status == entitlements.StatusCanceled || st.Status == entitlements.StatusIncompleteExpired}
	return subRecord{Base: s, BaseKey: &eventKey{Created: s.UpdatedAt, Rank: -1}}
}

// tier ranks subscriptions for currentSubscription: one that grants its plan, then another
// live one (incomplete, unpaid, paused), then an ended one.
func tier(s subState) int {
	switch {
	case s.Ended:
		return 0
	case s.Status == entitlements.StatusActive || s.Status == entitlements.StatusTrialing || s.Status == entitlements.StatusPastDue:
		return 2
	}
	return 1
}

// outranks says whether a Tenant's status should show subscription a rather than b: one
// known by its object over one known only by invoices, a live one over an ended one (an
// event of an old, canceled subscription never replaces a newer live one, and a new
// subscription replaces a canceled one), then the newer subscription. It is a total order,
// so the choice does not depend on the order events arrived in.
func outranks(a, b subState) bool {
	if a.HasObject != b.HasObject {
		return a.HasObject
	}
	if ta, tb := tier(a), tier(b); ta != tb {
		return ta > tb
	}
	if a.SubCreated != b.SubCreated {
		return a.SubCreated > b.SubCreated
	}
	if a.UpdatedAt != b.UpdatedAt {
		return a.UpdatedAt > b.UpdatedAt
	}
	return a.ID > b.ID
}

// currentSubscription is the subscription a Tenant's status shows among its subscriptions'
// states; false when there is none.
func currentSubscription(states []subState) (subState, bool) {
	if len(states) == 0 {
		return subState{}, false
	}
	best := states[0]
	for _, s := range states[1:] {
		if outranks(s, best) {
			best = s
		}
	}
	return best, true
}

// tenantRecords is what billing keeps for one Tenant: a record per subscription id.
type tenantRecords map[string]*subRecord

// place puts e in the record of subscription subID (a new one when there is none) and says
// what became of it (see subRecord.place).
func (tr tenantRecords) place(subID string, e subEvent) string {
	r, ok := tr[subID]
	if !ok {
		n := newSubRecord(subID)
		r = &n
	}
	outcome := r.place(e)
	if outcome == placedApplied {
		tr[subID] = r
	}
	return outcome
}

// current is the subscription the Tenant's status shows; false when there is none.
func (tr tenantRecords) current() (subState, bool) {
	states := make([]subState, 0, len(tr))
	for _, id := range slices.Sorted(maps.Keys(tr)) {
		states = append(states, tr[id].state())
	}
	return currentSubscription(states)
}

// status renders a subscription's state as a Tenant's status.subscription.
func (s subState) status() aiasv1alpha1.SubscriptionStatus {
	at := func(unix int64) *metav1.Time {
		if unix == 0 {
			return nil
		}
		t := metav1.NewTime(time.Unix(unix, 0).UTC())
		return &t
	}
	return aiasv1alpha1.SubscriptionStatus{ID: s.ID, Status: s.Status, PriceID: s.PriceID, CurrentPeriodEnd: at(s.PeriodEnd),
		PastDueSince: at(s.PastDueSince), UpdatedAt: at(s.UpdatedAt)}
}

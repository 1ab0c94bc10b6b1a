package billing

import "encoding/json"

// stripeObject is the few fields read from an event's data.object (a subscription or an
// invoice), parsed leniently so that API versions before and after Stripe's 2025 moves
// (current_period_end onto items, invoice.subscription under parent) both work.
type stripeObject struct {
	ID               string          `json:"id"`
	Object           string          `json:"object"`
	Customer         json.RawMessage `json:"customer"`
	Status           string          `json:"status"`
	CurrentPeriodEnd int64           `json:"current_period_end"`
	Created          int64           `json:"created"`
	Items            struct {
		Data []struct {
			Price struct {
				ID string `json:"id"`
			} `json:"price"`
			CurrentPeriodEnd int64 `json:"current_period_end"`
		} `json:"data"`
	} `json:"items"`
	Subscription json.RawMessage `json:"subscription"`
	Parent       struct {
		SubscriptionDetails struct {
			Subscription json.RawMessage `json:"subscription"`
		} `json:"subscription_details"`
	} `json:"parent"`
}

// parseStripeObject never fails: what cannot be read stays empty.
func parseStripeObject(raw json.RawMessage) stripeObject {
	var o stripeObject
	if err := json.Unmarshal(raw, &o); err != nil {
		// Retry field by field, so one field of an unexpected shape spoils only itself.
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(raw, &fields)
		for k, v := range fields {
			one, _ := json.Marshal(map[string]json.RawMessage{k: v})
			_ = json.Unmarshal(one, &o)
		}
	}
	return o
}

func (o stripeObject) customer() string { return expandableID(o.Customer) }

func (o stripeObject) subscription() string {
	if id := expandableID(o.Subscription); id != "" {
		return id
	}
	return expandableID(o.Parent.SubscriptionDetails.Subscription)
}

func (o stripeObject) priceID() string {
	if len(o.Items.Data) == 0 {
		return ""
	}
	return o.Items.Data[0].Price.ID
}

func (o stripeObject) currentPeriodEnd() int64 {
	if o.CurrentPeriodEnd > 0 {
		return o.CurrentPeriodEnd
	}
	if len(o.Items.Data) > 0 {
		return o.Items.Data[0].CurrentPeriodEnd
	}
	return 0
}

// expandableID reads a Stripe reference: an id string or an expanded object with an id.
func expandableID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

// subscriptionEvent is what an event of type typ says about one subscription, and that
// subscription's id; false when it names none (a one-off invoice, an object without id).
func subscriptionEvent(id, typ string, created int64, o stripeObject) (string, subEvent, bool) {
	e := subEvent{ID: id, Type: typ, Created: created}
	switch typ {
	case stripeSubscriptionCreated, stripeSubscriptionUpdated, stripeSubscriptionDeleted:
		e.Status, e.PriceID, e.PeriodEnd, e.SubCreated = o.Status, o.priceID(), o.currentPeriodEnd(), o.Created
		return o.ID, e, o.ID != ""
	case stripeInvoicePaid, stripeInvoicePaymentFail:
		sub := o.subscription()
		return sub, e, sub != ""
	}
	return "", e, false
}

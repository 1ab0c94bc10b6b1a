package billing

import "testing"

// The parser is unexported, so its test is in the package; billing_test.go serves events
// through the webhookserver's public listener.
func TestBillingParseLenient(t *testing.T) {
	// A newer API version: current_period_end on the item, the invoice's subscription
	// under parent, an expanded customer.
	o := parseStripeObject([]byte(`{"id":"sub_1","customer":{"id":"cus_A","object":"customer"},"status":"active",
		"items":{"data":[{"price":{"id":"price_1"},"current_period_end":1700000000}]},
		"parent":{"subscription_details":{"subscription":"sub_2"}}}`))
	if o.customer() != "cus_A" || o.priceID() != "price_1" || o.currentPeriodEnd() != 1700000000 || o.subscription() != "sub_2" {
		t.Fatalf("parsed %+v", o)
	}
	// A field of an unexpected shape spoils only itself.
	o = parseStripeObject([]byte(`{"id":"sub_1","customer":"cus_B","status":"active","current_period_end":"soon"}`))
	if o.ID != "sub_1" || o.customer() != "cus_B" || o.Status != "active" || o.currentPeriodEnd() != 0 {
		t.Fatalf("parsed %+v", o)
	}
}

package billing

// Exported for the end-to-end tests in package billing_test.

// StripeTestEvent is one real Stripe event (see sequences_test.go).
type StripeTestEvent = testEvent

// StripeTestSequence is a real Stripe event sequence and the subscription status it ends in.
type StripeTestSequence = testSequence

// StripeSequences builds the sequences for a customer (see stripeSequences).
var StripeSequences = stripeSequences

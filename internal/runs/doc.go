// Package runs is the one place a Run is made: every path that starts one (a delivery,
// a redelivery from the delivery log, a manual start, a replay, a schedule tick) builds
// it with New, which names it with one rule.
//
// # Names
//
// Every name AIAS derives (a Run's, and a Run's Jobs and Secrets) follows BoundedName:
// the readable name when it reads back as its key alone and fits in 63 characters (a
// label value), otherwise the readable name cut to fit, "-", and HashLength (16) hex
// digits of the sha256 of the key: 64 bits, so that neither chance nor a tenant choosing
// names makes two keys meet. A Run's name is derived from its request — the trigger
// kind, the UID of the object it came through and the request's idempotency key — never
// from the clock, so a retried request finds the Run the first one made:
//
//	Webhook     <endpoint>-<hash(endpoint UID "/" delivery id)>
//	Redelivery  <endpoint>-redelivery-<hash(kind, endpoint UID, delivery log id, caller, key)>
//	Manual      <workflow>-manual-<hash(kind, workflow UID, caller, key)>
//	Replay      <run>-replay-<hash(kind, original run UID, key)>
//	Schedule    <schedule>-<tick in Unix seconds>
//
// The Webhook and Schedule forms are documented (docs/architecture.md, "Names"), and a delivery's is recorded in
// the delivery ledger, so they keep the keys they always had: a delivery recorded before
// an upgrade and resent after it still finds its Run. A Schedule's needs no UID: the
// Schedule only starts Runs for ticks after its creation, so a Schedule created again
// under the same name never meets its predecessor's ticks. Their keys cannot meet the
// others': a UID is a UUID (no "/"), a Schedule's key is its readable name (a DNS
// subdomain, no "/"), and every other key starts with "aias.dev/run/v1/" and
// length-prefixes its fields.
//
// # Requests without an idempotency key
//
// A manual start, replay or redelivery sent without an Idempotency-Key header is a new
// Run each time. New then draws the key from crypto/rand (rand.Text, over 128 bits)
// rather than leaving the name to the apiserver's generateName: every Run name then has
// the same shape and the same 16-digit hash, the name is known before the create, and
// nothing in it comes from the clock (a time-based key makes two requests in the same
// tick one Run, and tells anyone who reads the name when it was asked for).
package runs

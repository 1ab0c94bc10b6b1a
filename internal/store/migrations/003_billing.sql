-- Stripe billing events received on POST /billing/stripe.

-- One row per Stripe event id: the row is the claim that makes processing idempotent.
-- A row with processed_at null is being processed (or its processor died: such a claim
-- may be taken over after a while); a processed row answers redeliveries as duplicates.
create table billing_events (
  id           text primary key,
  type         text not null,
  customer     text not null default '',
  created      timestamptz not null,
  received_at  timestamptz not null default now(),
  processed_at timestamptz,
  tenant       text not null default '',
  outcome      text not null default ''
);
create index billing_events_tenant on billing_events (tenant, created) where tenant <> '';

-- Per Tenant, the creation time of the newest Stripe event applied to its subscription
-- status: older events arriving late are recorded as stale and not applied.
create table tenant_subscriptions (
  tenant        text primary key,
  event_created timestamptz,
  event_id      text not null default '',
  subscription  jsonb,
  updated_at    timestamptz not null default now()
);

-- Stripe billing state per Tenant UID and per subscription. It replaces tenant_subscriptions,
-- which was keyed by the Tenant's name (a re-created Tenant inherited it) and ordered events
-- per Tenant instead of per subscription. Nothing is carried over: the first event for a
-- Tenant starts from the Tenant's own status.subscription.
drop table tenant_subscriptions;

-- The Tenant an event concerned, by UID, so that its records go with the Tenant.
alter table billing_events add column tenant_uid text not null default '';
create index billing_events_tenant_uid on billing_events (tenant_uid) where tenant_uid <> '';

-- One row per Tenant billing keeps subscriptions for. A Tenant's events are serialized by a
-- transaction-scoped advisory lock on its UID (see store.ApplyTenantBilling).
create table billing_tenants (
  tenant_uid      text primary key,
  tenant          text not null default '',  -- the name, for display only
  subscription_id text not null default '',  -- the subscription status.subscription shows
  updated_at      timestamptz not null default now()
);

-- One row per Stripe subscription of a Tenant: record is the billing package's ordered
-- history of the subscription's events (bounded), from which its state is computed.
create table billing_subscriptions (
  tenant_uid         text not null references billing_tenants (tenant_uid) on delete cascade,
  subscription_id    text not null,
  last_event_created timestamptz not null,
  last_event_id      text not null default '',
  ended              boolean not null default false,
  record             jsonb not null,
  updated_at         timestamptz not null default now(),
  primary key (tenant_uid, subscription_id)
);

-- What belongs to an object whose name can be reused is keyed by its UID (issue 21): a
-- WebhookEndpoint deleted and created again under the same name, or a new Tenant with an
-- old Tenant's name, sees none of its predecessor's rows.

-- The delivery log is listed and redelivered by endpoint UID (every row has carried it
-- since migration 013); the endpoint's finalizer deletes its rows by it.
create index delivery_log_endpoint_uid on delivery_log (endpoint_uid, received_at desc, id desc);
drop index delivery_log_endpoint;

-- Run claims and usage counters are keyed by Tenant UID. PostgreSQL has never seen a
-- Tenant's UID, so the claims counted so far wait under the tenant's name in
-- legacy_run_claims until the Tenant controller adopts them for the live Tenant of that
-- name (store.AdoptLegacyRunClaims): only the claims made since that Tenant's creation, so
-- a claim of an earlier Tenant of the same name is never inherited. The counters are
-- rebuilt from the claims as they are adopted (a counter always equals its claims: both
-- are written in one transaction), and legacy rows of periods long past are purged by the
-- manager's janitor, which empties the table within two billing periods.
alter table run_claims rename to legacy_run_claims;
alter table legacy_run_claims rename constraint run_claims_pkey to legacy_run_claims_pkey;
alter index run_claims_tenant_period rename to legacy_run_claims_tenant_period;
drop table tenant_usage;

create table run_claims (
  run_uid      uuid        primary key,
  tenant_uid   uuid        not null,
  period_start timestamptz not null,
  claimed_at   timestamptz not null default now()
);
create index run_claims_tenant_period on run_claims (tenant_uid, period_start);

create table tenant_usage (
  tenant_uid   uuid        not null,
  period_start timestamptz not null,
  runs         bigint      not null default 0,
  primary key (tenant_uid, period_start)
);
-- The janitor purges the claims and counters of billing periods long past by period.
create index tenant_usage_period on tenant_usage (period_start);
create index run_claims_period on run_claims (period_start);
create index legacy_run_claims_period on legacy_run_claims (period_start);

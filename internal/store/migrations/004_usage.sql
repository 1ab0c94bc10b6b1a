-- Runs counted against a tenant's plan, per billing period. A Run is claimed once (by
-- its UID) when it starts; the counter row makes concurrent claims serialize on one row,
-- so a limit is never exceeded and a retried claim never counts twice.
create table run_claims (
  run_uid      uuid primary key,
  tenant       text not null,
  period_start timestamptz not null,
  claimed_at   timestamptz not null default now()
);
create index run_claims_tenant_period on run_claims (tenant, period_start);

create table tenant_usage (
  tenant       text not null,
  period_start timestamptz not null,
  runs         bigint not null default 0,
  primary key (tenant, period_start)
);

-- What the run engine keeps outside etcd.

-- The resolved Workflow spec each Run started with, by digest (Run status.specDigest).
-- Later edits of the Workflow never change a Run that already started. Kept as the exact
-- bytes that were hashed.
create table workflow_specs (
  digest     text primary key check (digest ~ '^sha256:[0-9a-f]{64}$'),
  spec       bytea not null,
  created_at timestamptz not null default now()
);

-- One row per Run that holds a concurrency slot: admitted and not yet finished. Slots are
-- claimed under a per-Workflow advisory lock, so concurrent admissions never exceed a limit.
create table run_slots (
  run_uid    uuid primary key,
  namespace  text not null,
  workflow   text not null,
  claimed_at timestamptz not null default now()
);
create index run_slots_workflow on run_slots (namespace, workflow);

-- How each step attempt ended, as reported by step-run.
create table step_outcomes (
  run_uid     uuid not null,
  step        text not null,
  attempt     int not null,
  exit_code   int not null,
  message     text not null default '',
  reported_at timestamptz not null default now(),
  primary key (run_uid, step, attempt)
);

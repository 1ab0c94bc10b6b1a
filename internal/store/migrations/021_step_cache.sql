-- The step cache (issue 24): per namespace, a key (the sha256 the Run controller makes
-- of a resolved step, its input and its parameters) names the latest Succeeded attempt
-- with that key. A hit copies that attempt's artifact rows (blobs are shared by digest)
-- and log lines to the step that takes it. An entry goes with the Run it points to
-- (store.DeleteRun), so it never outlives its source artifacts, and it never crosses
-- namespaces: the namespace is part of the primary key and of every lookup.
create table step_cache (
  namespace     text        not null,
  key           text        not null,
  run_uid       uuid        not null,
  run_name      text        not null,
  step          text        not null,
  attempt       int         not null,
  output_digest text        not null default '',
  finished_at   timestamptz not null default now(),
  primary key (namespace, key)
);
create index step_cache_run on step_cache (run_uid);

-- Per-Run byte caps from the tenant's plan, recorded by the Run controller when the Run
-- starts, and the bytes of log lines stored so far (a running total, so checking the cap
-- never scans a Run's logs). The internal step API enforces both.
create table run_limits (
  run_uid         uuid primary key,
  artifact_bytes  bigint,           -- null: no cap
  log_bytes       bigint,           -- null: no cap
  log_bytes_used  bigint not null default 0
);

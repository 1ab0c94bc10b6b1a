-- Runs whose rows DeleteRun removed. Step API writes check it under a shared advisory
-- lock on the run (DeleteRun takes it exclusively), so a write in flight when a Run is
-- deleted either lands before the delete (and is deleted with the rest) or is refused;
-- none lands after. Rows are purged once no ticket of the Run can still be valid.
create table deleted_runs (
  uid        uuid primary key,
  deleted_at timestamptz not null default now()
);
create index deleted_runs_deleted_at on deleted_runs (deleted_at);

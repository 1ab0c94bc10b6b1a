-- A Workflow's spec.concurrency.key splits its slots: Forbid, Queue and max apply per key
-- value (e.g. per branch). Runs without a key share the empty one.
alter table run_slots add column concurrency_key text not null default '';
drop index run_slots_workflow;
create index run_slots_workflow on run_slots (namespace, workflow, concurrency_key);

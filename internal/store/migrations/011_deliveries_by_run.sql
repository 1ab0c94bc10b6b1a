-- The Run controller marks a delivery created when it first indexes the delivery's Run
-- (UpsertRun), durably and whatever the hook listener managed to mark: a Run that lived
-- long enough to be pruned or deleted was indexed, so its delivery is never pending.
create index deliveries_run on deliveries (namespace, run_name) where outcome = 'pending';

-- A delivery's mark (pending → created) rewrote every index entry of its row: outcome was
-- in deliveries_run's predicate, and a column an index reads rules out a heap-only
-- (HOT) update. Indexed without the predicate, the mark touches the row alone; the space
-- fillfactor leaves free on each page is where the updated row goes.
drop index deliveries_run;
create index deliveries_run on deliveries (namespace, run_name);
alter table deliveries set (fillfactor = 80);

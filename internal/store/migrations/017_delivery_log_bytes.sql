-- The bytes of delivery bodies each namespace's delivery log keeps (the sum of body_size
-- over its rows that still hold a body), held to the tenant plan's deliveryLogBytes.
-- Triggers keep it on every statement that adds, drops or deletes bodies, so that no
-- path (a new row, expiry, trimming to the budget, an endpoint's deletion) can forget it.
create table delivery_log_bytes (
  namespace text   primary key,
  bytes     bigint not null default 0
);
insert into delivery_log_bytes (namespace, bytes)
  select namespace, sum(body_size) from delivery_log where body is not null group by namespace;

create function delivery_log_bytes_inserted() returns trigger language plpgsql as $$
begin
  insert into delivery_log_bytes as t (namespace, bytes)
    select namespace, sum(body_size) from new_rows where body is not null group by namespace order by namespace
  on conflict (namespace) do update set bytes = t.bytes + excluded.bytes;
  return null;
end $$;

create function delivery_log_bytes_updated() returns trigger language plpgsql as $$
begin
  update delivery_log_bytes t set bytes = t.bytes + d.delta
  from (
    select n.namespace,
      sum(case when n.body is not null then n.body_size else 0 end) - sum(case when o.body is not null then o.body_size else 0 end) as delta
    from new_rows n join old_rows o on o.id = n.id group by n.namespace
  ) d
  where t.namespace = d.namespace and d.delta <> 0;
  return null;
end $$;

create function delivery_log_bytes_deleted() returns trigger language plpgsql as $$
begin
  update delivery_log_bytes t set bytes = t.bytes - d.bytes
  from (select namespace, sum(body_size) as bytes from old_rows where body is not null group by namespace) d
  where t.namespace = d.namespace;
  return null;
end $$;

create trigger delivery_log_bytes_inserted after insert on delivery_log
  referencing new table as new_rows for each statement execute function delivery_log_bytes_inserted();
create trigger delivery_log_bytes_updated after update on delivery_log
  referencing old table as old_rows new table as new_rows for each statement execute function delivery_log_bytes_updated();
create trigger delivery_log_bytes_deleted after delete on delivery_log
  referencing old table as old_rows for each statement execute function delivery_log_bytes_deleted();

-- Trimming to the budget drops a namespace's oldest bodies first.
create index delivery_log_kept_bodies on delivery_log (namespace, received_at, id) where body is not null;

-- Every delivery that does not verify is now answered alike (401 Unverified), so the
-- per-minute rows of unverified deliveries are told apart by their reason (a fixed set:
-- InvalidSignature, MissingHeader, ...) for the endpoint's owner to see why.
drop index delivery_log_unverified;
create unique index delivery_log_unverified on delivery_log (endpoint_uid, received_at, outcome, status, reason) where not verified;

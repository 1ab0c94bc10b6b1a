-- The delivery log: what each endpoint received and what became of it, for users (the
-- ledger, deliveries, is for deduplication and lives only as long as the replay window).
-- A verified delivery is one row. Deliveries that never verified (a wrong signature, a
-- suspended endpoint, a body over the cap) are counted, one row per endpoint, minute,
-- outcome and status, so that nobody without the key can grow the table by more than
-- a few rows a minute.
create table delivery_log (
  id           bigserial   primary key,
  namespace    text        not null,
  endpoint     text        not null,
  endpoint_uid text        not null,
  received_at  timestamptz not null,
  verified     boolean     not null,
  delivery_id  text        not null default '',
  outcome      text        not null,
  reason       text        not null default '',
  status       int         not null,
  body_size    bigint      not null default 0,
  body_sha256  bytea,
  run_name     text        not null default '',
  count        int         not null default 1
);
create index delivery_log_endpoint on delivery_log (namespace, endpoint, received_at desc, id desc);
create index delivery_log_received on delivery_log (received_at);
create unique index delivery_log_unverified on delivery_log (endpoint_uid, received_at, outcome, status) where not verified;

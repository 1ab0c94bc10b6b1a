-- The delivery ledger: every verified delivery to a WebhookEndpoint, recorded before its
-- Run is created, so that a redelivery is recognised even after the Run was pruned or
-- deleted. Rows live until expires_at (the endpoint's replay window after receipt).
create table deliveries (
  endpoint_uid text        not null,
  delivery_id  text        not null,
  -- sha256 of the body; body_key repeats it only for schemes whose signature covers
  -- neither a timestamp nor the delivery id (GitHub, HMAC, Token): for those the same
  -- body within the window is the same delivery whatever id it claims.
  body_sha256  bytea       not null,
  body_key     bytea,
  body_size    bigint      not null,
  namespace    text        not null,
  endpoint     text        not null,
  run_name     text        not null,
  -- pending: recorded, Run not known to exist yet; created: the Run was created (or
  -- found existing) by a delivery of this row.
  outcome      text        not null,
  received_at  timestamptz not null,
  expires_at   timestamptz not null,
  primary key (endpoint_uid, delivery_id)
);
create unique index deliveries_body_key on deliveries (endpoint_uid, body_key) where body_key is not null;
create index deliveries_expires on deliveries (expires_at);

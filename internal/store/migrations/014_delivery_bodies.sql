-- Bodies of verified deliveries, kept for the tenant plan's deliveryRetention so that a
-- delivery can be redelivered from the log. Only the headers an endpoint's expressions
-- may see are kept (never a signature or a credential).
alter table delivery_log add column body bytea;
alter table delivery_log add column content_type text not null default '';
alter table delivery_log add column headers jsonb;
alter table delivery_log add column body_expires_at timestamptz;
create index delivery_log_body_expires on delivery_log (body_expires_at) where body is not null;

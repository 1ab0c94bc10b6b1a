-- Run inputs belong to a namespace (issue 21): a Run's spec.inputRef.digest resolves only
-- to an input stored for the Run's own namespace, so knowing the sha256 of another
-- tenant's payload reads nothing. Inputs and frozen specs no Run refers to any more are
-- swept by the manager (controllers/store_sweep.go) once stored_at is older than a grace
-- period; stored_at is refreshed when the same content is stored again.
alter table inputs rename to inputs_unscoped;
alter table inputs_unscoped rename constraint inputs_pkey to inputs_unscoped_pkey;
create table inputs (
  namespace    text        not null,
  digest       text        not null check (digest ~ '^sha256:[0-9a-f]{64}$'),
  content      bytea       not null,
  content_type text        not null,
  size         bigint      not null,
  stored_at    timestamptz not null default now(),
  primary key (namespace, digest)
);
create index inputs_stored_at on inputs (stored_at);

-- Each existing input is copied to every namespace that refers to it: through an indexed
-- Run, or through a delivery in the ledger (a webhook Run created just before the upgrade
-- and not indexed yet; its input is the body, whose sha256 the ledger keeps). An input
-- nothing refers to was an orphan already and is dropped with the unscoped table.
insert into inputs (namespace, digest, content, content_type, size)
select refs.namespace, i.digest, i.content, i.content_type, i.size
from inputs_unscoped i
join (
  select namespace, input_digest as digest from run_index where input_digest <> ''
  union
  select namespace, 'sha256:' || encode(body_sha256, 'hex') from deliveries
) refs on refs.digest = i.digest;
drop table inputs_unscoped;

-- Frozen specs stay keyed by digest alone: status.specDigest is written only by the Run
-- controller (tenant roles may only get runs/status, and the apiserver drops the status of
-- a create), from the Workflow of the Run's own namespace, so no tenant can name a spec to
-- be read. The run index records which spec each Run uses, for the sweep.
alter table workflow_specs rename column created_at to stored_at;
create index workflow_specs_stored_at on workflow_specs (stored_at);
alter table run_index add column spec_digest text not null default '';

-- What the sweep asks of the run index: does any Run of the namespace use this input, does
-- any Run use this spec. Partial: Runs without an input (most) cost nothing.
create index run_index_input on run_index (namespace, input_digest) where input_digest <> '';
create index run_index_spec on run_index (spec_digest) where spec_digest <> '';

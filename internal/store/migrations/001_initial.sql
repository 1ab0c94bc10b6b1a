-- AIAS state outside etcd. Content-addressed blobs, artifacts, append-only run logs,
-- the run index for listing at scale, and large run inputs.

-- Blob content is split into chunks so that a large artifact streams in and out
-- without ever being held whole in memory on either side.
create table blobs (
  digest     text primary key check (digest ~ '^sha256:[0-9a-f]{64}$'),
  size       bigint not null check (size >= 0),
  created_at timestamptz not null default now()
);

-- While an upload is in flight its chunks carry a provisional key ('upload:<uuid>');
-- the upload's transaction renames them to the digest or drops them when the blob exists.
create table blob_chunks (
  digest text not null,
  seq    int not null,
  data   bytea not null,
  primary key (digest, seq)
);

create table artifacts (
  namespace    text not null,
  run_uid      uuid not null,
  run_name     text not null,
  step         text not null,
  attempt      int not null check (attempt >= 1),
  name         text not null,
  digest       text not null references blobs (digest),
  content_type text not null,
  size         bigint not null,
  created_at   timestamptz not null default now(),
  primary key (run_uid, step, attempt, name)
);
create index artifacts_digest on artifacts (digest);

create table run_logs (
  namespace text not null,
  run_uid   uuid not null,
  step      text not null,
  attempt   int not null,
  stream    text not null check (stream in ('stdout', 'stderr', 'system')),
  seq       bigint not null,
  ts        timestamptz not null,
  line      text not null,
  primary key (run_uid, step, attempt, stream, seq)
);

create table run_index (
  uid          uuid primary key,
  namespace    text not null,
  name         text not null,
  workflow     text not null,
  phase        text not null,
  trigger      text not null,
  endpoint     text not null default '',
  input_digest text not null default '',
  created_at   timestamptz not null,
  started_at   timestamptz,
  finished_at  timestamptz
);
-- Keyset pagination: newest first within a namespace, optionally by workflow or phase.
create index run_index_ns_created on run_index (namespace, created_at desc, uid desc);
create index run_index_ns_workflow_created on run_index (namespace, workflow, created_at desc, uid desc);
create index run_index_ns_phase_created on run_index (namespace, phase, created_at desc, uid desc);

create table inputs (
  digest       text primary key check (digest ~ '^sha256:[0-9a-f]{64}$'),
  content      bytea not null,
  content_type text not null,
  size         bigint not null,
  created_at   timestamptz not null default now()
);

-- The user API filters the runs list by webhook endpoint too; like the other filters it
-- pages newest first by (created_at, uid), so it gets the same index shape.
create index run_index_ns_endpoint_created on run_index (namespace, endpoint, created_at desc, uid desc);

-- The user API finds a Run's uid (which keys its logs and artifacts) by name.
create index run_index_ns_name on run_index (namespace, name);

-- Decisions on approval gates (issue 23). The user API writes one after its
-- SubjectAccessReview (runs/approve) and the gate's approvers check; the Run controller
-- copies it into the step's status. The first decision on a gate of a Run wins; a replay
-- is a new Run, whose gates wait again. Deleted with the Run (store.DeleteRun).
create table approvals (
  run_uid    uuid        not null,
  namespace  text        not null,
  step       text        not null,
  decision   text        not null check (decision in ('Approved', 'Rejected')),
  decided_by text        not null,
  comment    text        not null default '',
  decided_at timestamptz not null default now(),
  primary key (run_uid, step)
);

-- How long a step attempt's command ran, as step-run measured it: Kubernetes times are
-- whole seconds, which says nothing about a step that takes 40 ms.
alter table step_outcomes add column run_seconds double precision;

-- Purpose: the statements of audit_events_plan_maintenance, one per row in the
-- order to run them, for psql's \gexec (which runs each row as its own top-level
-- statement, as DETACH ... CONCURRENTLY requires; on Citus each step comes
-- between BEGIN and COMMIT, see audit_events_step_statements). Set a short
-- lock_timeout first:
--   SET lock_timeout = '2s';
--   SELECT audit_events_maintenance_statements(
--       'audit_events_auditevent', 'audit_events_archivedauditevent',
--       archive_before => (now() AT TIME ZONE 'UTC')::date - 90,
--       first_day => (now() AT TIME ZONE 'UTC')::date,
--       last_day => (now() AT TIME ZONE 'UTC')::date + 14) \gexec
CREATE OR REPLACE FUNCTION audit_events_maintenance_statements(
    live regclass,
    archive regclass,
    archive_before date,
    first_day date DEFAULT NULL,
    last_day date DEFAULT NULL,
    expire_before date DEFAULT NULL,
    with_analyze boolean DEFAULT true
)
RETURNS SETOF text
LANGUAGE sql STABLE
AS $$
    SELECT u.statement
    FROM audit_events_plan_maintenance(live, archive, archive_before, first_day, last_day,
                                       expire_before, with_analyze) AS p
    CROSS JOIN LATERAL unnest(audit_events_step_statements(live, p.action, p.statements))
        WITH ORDINALITY AS u (statement, n)
    ORDER BY p.step, u.n
$$;

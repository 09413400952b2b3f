-- Purpose: the statements of audit_events_plan_maintenance, one per row in the
-- order to run them, for psql's \gexec (which runs each row as its own top-level
-- statement, as DETACH ... CONCURRENTLY requires; a row holding two commands,
-- such as an ATTACH and its ledger record, is sent as one query and so runs as
-- one transaction; on Citus each step comes between BEGIN and COMMIT, see
-- audit_events_step_statements). sql/run_maintenance.psql does it all (owner
-- check, advisory lock, ON_ERROR_STOP, digests); by hand, with psql -X -v
-- ON_ERROR_STOP=1, set a short lock_timeout first:
--   SET lock_timeout = '2s';
--   SELECT public.audit_events_maintenance_statements(
--       'public.audit_events_auditevent', 'public.audit_events_archivedauditevent',
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
    CROSS JOIN LATERAL pg_catalog.unnest(audit_events_step_statements(live, p.action, p.statements))
        WITH ORDINALITY AS u (statement, n)
    ORDER BY p.step, u.n
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp: the
-- caller's search_path and DateStyle/TimeZone change nothing. Objects of
-- pg_catalog are named with their schema so that no function of the same name
-- elsewhere can stand in for them.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_maintenance_statements(regclass, regclass, date, date, date, date, boolean)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

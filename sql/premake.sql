-- Purpose: make sure PARENT has a partition for every UTC day from today to
-- DAYS_AHEAD days ahead, committing after each day, each under LOCK_TIMEOUT:
-- what a pg_cron job can run (docs/operations.md), as the owner of PARENT:
--   CALL public.audit_events_premake('public.audit_events_auditevent', 14);
-- A procedure, not a function, so that it can COMMIT after each day: the
-- parent's SHARE UPDATE EXCLUSIVE lock is held for one day's ATTACH, not for the
-- whole range. A day that exists already costs a catalog lookup and no lock.
--
-- A procedure that COMMITs cannot carry SET clauses, so its search_path cannot
-- be pinned: every name it uses is written with its schema instead (the schema
-- of audit_events_create_day_partition is filled in when it is installed).
DO $install$
BEGIN
    EXECUTE pg_catalog.format($procedure$
CREATE OR REPLACE PROCEDURE %1$s.audit_events_premake(
    parent pg_catalog.regclass,
    days_ahead pg_catalog.int4,
    lock_timeout pg_catalog.text DEFAULT '2s'
)
LANGUAGE plpgsql
AS $$
DECLARE
    today pg_catalog.date := pg_catalog.timezone('UTC', pg_catalog.now())::pg_catalog.date;
    n pg_catalog.int4;
BEGIN
    FOR n IN 0 .. days_ahead LOOP
        PERFORM pg_catalog.set_config('lock_timeout', lock_timeout, true);
        PERFORM %1$s.audit_events_create_day_partition(parent, today OPERATOR(pg_catalog.+) n);
        COMMIT;
    END LOOP;
END
$$
$procedure$, (SELECT p.pronamespace::pg_catalog.regnamespace::pg_catalog.text
              FROM pg_catalog.pg_proc AS p
              WHERE p.oid = 'audit_events_create_day_partition(regclass, date)'
                            ::pg_catalog.regprocedure));
END
$install$;

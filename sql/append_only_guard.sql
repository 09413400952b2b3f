-- Purpose: refuse UPDATE and DELETE of stored audit events.
--
-- Installed (by audit_events.guard.AppendOnly) as a BEFORE UPDATE OR DELETE
-- row trigger on the live and archive parents. PostgreSQL clones a row trigger
-- on a partitioned table to every partition, including partitions attached
-- later, and removes the clone when a partition is detached: a day moved from the live to the archive table is
-- guarded by the archive table's trigger as soon as it is attached. DDL
-- (DETACH, ATTACH, DROP) fires no trigger, so the lifecycle's moves still work.
-- TRUNCATE and DROP are left to privileges: the application role has neither.
--
-- The one way through, for a maintenance task such as a GDPR erasure: a
-- transaction that ran SET LOCAL audit_events.allow_changes = 'on' as a role
-- that has the privileges of the table's owner (or a superuser). An application
-- role that does not own the tables cannot open it, whatever it sets.
--
-- search_path is pinned and every name is schema-qualified: otherwise a role
-- that can create a function (say pg_has_role) in a schema of its own, and put
-- that schema first in its search_path, would answer the guard's question itself.
CREATE OR REPLACE FUNCTION audit_events_append_only_guard()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_catalog.current_setting('audit_events.allow_changes', true) = 'on'
       AND pg_catalog.pg_has_role(current_user,
                       (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = TG_RELID),
                       'USAGE') THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events: audit events are append-only: % on % refused',
                    TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Stored audit events cannot be changed or deleted. A maintenance task '
                     'run by the table owner may use audit_events.guard.allow_changes().';
END
$$;

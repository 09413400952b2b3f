-- Purpose: start a DBA's maintenance session of the event table LIVE (called
-- first by sql/run_maintenance.psql): refuse a role that does not have the
-- privileges of LIVE's owner, naming the role to use, then take the advisory
-- lock that rotate_audit_partitions takes (audit_events/locks.py), so that the
-- two never interleave their steps. The lock is session-level: it is held until
-- the session ends (psql exits), even if a later statement fails.
--
-- Key: (1096107092, hashtext('<LIVE's table name>')); 1096107092 is "AUDT" and
-- shows as classid in pg_locks.
CREATE OR REPLACE FUNCTION audit_events_begin_maintenance(live regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner regrole;
    table_name name;
BEGIN
    SELECT c.relowner::regrole, c.relname INTO owner, table_name
    FROM pg_class AS c WHERE c.oid = live;
    IF NOT pg_has_role(current_user, owner, 'USAGE') THEN
        RAISE EXCEPTION 'audit_events: maintenance of % must run as %, its owner (not as %)',
                        live, owner, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Connect as %s (psql -U %s), or SET ROLE %s.', owner, owner, owner);
    END IF;
    IF NOT pg_try_advisory_lock(1096107092, hashtext(table_name)) THEN
        RAISE EXCEPTION 'audit_events: another rotation is running for % (advisory lock '
                        '(1096107092, hashtext(%L)) is held); nothing was done', live, table_name
            USING ERRCODE = 'object_in_use',
                  HINT = 'Wait for it to finish and run again; see who holds it: SELECT pid '
                         'FROM pg_locks WHERE locktype = ''advisory'' AND classid = 1096107092;';
    END IF;
END
$$;

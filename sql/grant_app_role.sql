-- Purpose: give APP_ROLE, the role the application connects as, exactly what it
-- needs on the audit tables and nothing more (the two-role setup of
-- docs/reliability.md):
--   LIVE     SELECT, INSERT   (record and read events)
--   SPOOL    SELECT, INSERT   (the safety net for days without a partition)
--   ARCHIVE  SELECT           (read archived events; only rotation writes it)
--   LEDGER   SELECT           (audit_events_archivedday: archive times, digests)
-- Every other privilege APP_ROLE held on these tables or on any of their
-- partitions is revoked first, so a second call is harmless. Without UPDATE,
-- DELETE and TRUNCATE, and without owning the tables (needed for DROP, ALTER
-- and for opening the append-only guard), the application cannot change what
-- is stored. Partitions need no grant: PostgreSQL checks privileges on the
-- parent named in the statement, and rotation creates new partitions owned by
-- the maintenance role.
CREATE OR REPLACE FUNCTION audit_events_grant_app_role(app_role regrole, live regclass,
                                                       archive regclass, spool regclass,
                                                       ledger regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT unnest(ARRAY[live, archive, spool, ledger])
        UNION ALL
        SELECT i.inhrelid::regclass FROM pg_inherits AS i WHERE i.inhparent IN (live, archive)
    LOOP
        EXECUTE format('REVOKE ALL ON TABLE %s FROM %s', t, app_role);
    END LOOP;
    EXECUTE format('GRANT SELECT, INSERT ON TABLE %s, %s TO %s', live, spool, app_role);
    EXECUTE format('GRANT SELECT ON TABLE %s, %s TO %s', archive, ledger, app_role);
END
$$;

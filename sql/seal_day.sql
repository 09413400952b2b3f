-- Purpose: seal one closed UTC day DAY of the event table LIVE (archive table
-- ARCHIVE) from SQL, as rotation's seal step does (audit_events.tamper): close
-- the day's live partition to new rows (trigger audit_events_sealed, see
-- audit_events_refuse_sealed_day), then record its row count and digest
-- (audit_events_day_digest) in audit_events_sealedday and show them in the day's
-- audit_events_archivedday record when the day is archived. Both ledgers are
-- looked up in LIVE's schema. A day already sealed is left as it is (a seal is
-- never recorded again: that would launder an edit), but its seal is still
-- shown in its ArchivedDay record once archived; a day with no partition, or
-- whose live table belongs to another role, is skipped (with a warning).
-- Returns the seal recorded now, or no row.
--
-- The trigger and the digest share this call's transaction: inserts into that
-- one day table (late events, which the trigger refuses anyway) wait for the
-- digest instead of failing at once. Rotation commits the trigger first; run
-- this one day at a time (sql/run_maintenance.psql does) to keep that wait short.
CREATE OR REPLACE FUNCTION audit_events_seal_day(live regclass, archive regclass, day date)
RETURNS TABLE (row_count bigint, digest text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    home text := (SELECT c.relnamespace::pg_catalog.regnamespace::text
                  FROM pg_catalog.pg_class AS c WHERE c.oid = live);
    seals regclass := pg_catalog.to_regclass(pg_catalog.format('%s.audit_events_sealedday', home));
    ledger regclass := pg_catalog.to_regclass(pg_catalog.format('%s.audit_events_archivedday', home));
    live_name name := (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = live);
    archive_name name := (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = archive);
    live_day regclass := audit_events_partition_for_day(live, day);
    archive_day regclass := audit_events_partition_for_day(archive, day);
    sealed boolean;
    d record;
BEGIN
    IF seals IS NULL THEN
        RAISE EXCEPTION 'audit_events: no table audit_events_sealedday in schema %', home
            USING ERRCODE = 'undefined_table',
                  HINT = 'Run python manage.py migrate audit_events first.';
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT EXISTS (SELECT FROM %s WHERE event_table = $1 AND day = $2)', seals)
        INTO sealed USING live_name, day;
    IF NOT sealed AND live_day IS NOT NULL AND NOT pg_catalog.pg_has_role(
            current_user, (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = live_day),
            'USAGE') THEN
        -- Owned by another role: its repair step says which role must give it back.
        RAISE WARNING 'audit_events: % is owned by another role: not sealed', live_day;
    ELSIF NOT sealed AND coalesce(live_day, archive_day) IS NOT NULL THEN
        IF live_day IS NOT NULL THEN
            EXECUTE pg_catalog.format(
                'CREATE OR REPLACE TRIGGER audit_events_sealed BEFORE INSERT ON %s FOR EACH ROW '
                'EXECUTE FUNCTION %s.audit_events_refuse_sealed_day()', live_day, home);
            SELECT * INTO d FROM audit_events_day_digest(live, day);
        ELSE
            SELECT * INTO d FROM audit_events_day_digest(archive, day);
        END IF;
        EXECUTE pg_catalog.format(
            'INSERT INTO %s (event_table, day, sealed_at, row_count, digest, hashed_columns) '
            'VALUES ($1, $2, pg_catalog.now(), $3, $4, pg_catalog.to_jsonb($5))', seals)
            USING live_name, day, d.row_count, d.digest, d.hashed_columns;
        row_count := d.row_count;
        digest := d.digest;
        RETURN NEXT;
    END IF;
    -- An archived day's record shows its seal (sealed now, or before the move).
    IF ledger IS NOT NULL THEN
        EXECUTE pg_catalog.format(
            'UPDATE %s AS l SET row_count = s.row_count, digest = s.digest FROM %s AS s '
            'WHERE s.event_table = $1 AND s.day = $3 AND l.archive_table = $2 AND l.day = $3 '
            'AND l.digest = %L', ledger, seals, '')
            USING live_name, archive_name, day;
    END IF;
END
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_seal_day(regclass, regclass, date)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

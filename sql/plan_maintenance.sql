-- Purpose: plan one maintenance run of the event table LIVE and its archive
-- table ARCHIVE, from the catalog alone; one row per step, in the order to run.
-- Each step's STATEMENTS must run one by one at top level, each in its own
-- transaction (DETACH ... CONCURRENTLY refuses a transaction block, a function
-- and a DO block), under a short lock_timeout: psql's \gexec does exactly that
-- (see audit_events_maintenance_statements), and so does rotate_audit_partitions.
--
-- Steps, in order:
--   repair   finish a DETACH ... CONCURRENTLY that was interrupted (FINALIZE) and
--            attach every orphaned day table where its age says it belongs: the
--            archive when it ends on or before ARCHIVE_BEFORE, else the live table
--            (an archive partition past EXPIRE_BEFORE is dropped instead)
--   create   a live partition for every day FIRST_DAY..LAST_DAY that has none
--   archive  every live day ending on or before ARCHIVE_BEFORE: DETACH
--            CONCURRENTLY (blocks nobody), then ATTACH to ARCHIVE (no scan: the
--            table carries a CHECK equal to its bounds; no index build: the
--            archive parent has the same index definitions). Same table, same
--            relfilenode: no row is copied.
--   expire   every archive day ending on or before EXPIRE_BEFORE (NULL: keep
--            forever): DETACH CONCURRENTLY, then DROP
--   analyze  the parents that changed (autovacuum never analyzes a partitioned
--            table). Before PostgreSQL 18 (no ANALYZE ONLY) ANALYZE of a parent
--            also re-analyzes every partition, so the archive parent, which grows
--            without bound, is only analyzed on 18 and later.
-- On Citus (LIVE distributed, see audit_events_is_distributed), which refuses
-- DETACH ... CONCURRENTLY, detaches are plain; audit_events_step_statements then
-- makes each step one transaction.
-- A day that would overlap a partition the target already has is left alone
-- (STATEMENTS empty, DETAIL says why): it needs a decision by hand.
-- When the table audit_events_archivedday exists, archive and expire steps also
-- record or forget the day there.
CREATE OR REPLACE FUNCTION audit_events_plan_maintenance(
    live regclass,
    archive regclass,
    archive_before date,
    first_day date DEFAULT NULL,
    last_day date DEFAULT NULL,
    expire_before date DEFAULT NULL,
    with_analyze boolean DEFAULT true
)
RETURNS TABLE (
    step integer,
    action text,
    table_name text,
    day date,
    detail text,
    statements text[]
)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    archive_limit timestamptz := archive_before::timestamp AT TIME ZONE 'UTC';
    expire_limit timestamptz := expire_before::timestamp AT TIME ZONE 'UTC';
    ledger regclass := to_regclass('audit_events_archivedday');
    archive_name name := (SELECT c.relname FROM pg_class AS c WHERE c.oid = archive);
    has_analyze_only boolean := current_setting('server_version_num')::int >= 180000;
    detach_option text := CASE WHEN audit_events_is_distributed(live) THEN ''
                              ELSE ' CONCURRENTLY' END;
    s record;
    d date;
    target regclass;
    overlap regclass;
    days_to_live date[] := '{}';
    touched_live boolean := false;
    touched_archive boolean := false;
BEGIN
    IF live IS NULL OR archive IS NULL OR archive_before IS NULL THEN
        RAISE EXCEPTION 'audit_events: live, archive and archive_before are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    step := 0;

    -- repair
    FOR s IN
        SELECT st.* FROM audit_events_partition_status(live, archive) AS st
        WHERE st.state IN ('pending', 'orphan')
        ORDER BY st.lower_bound
    LOOP
        step := step + 1;
        action := 'repair';
        table_name := s.table_name;
        day := s.day;
        statements := '{}';
        detail := '';
        IF s.state = 'pending' THEN
            statements := ARRAY[format('ALTER TABLE %s DETACH PARTITION %s FINALIZE',
                                       s.parent, s.table_name)];
            detail := format('finish the interrupted detach from %s; ', s.parent);
            touched_live := touched_live OR s.parent = live::text;
            touched_archive := touched_archive OR s.parent = archive::text;
        END IF;
        IF s.parent = archive::text AND s.upper_bound <= expire_limit THEN
            statements := statements || format('DROP TABLE %s', s.table_name);
            detail := detail || 'drop it (past retention)';
            IF ledger IS NOT NULL THEN
                statements := statements || format(
                    'DELETE FROM %s WHERE archive_table = %L AND day = %L',
                    ledger, archive_name, s.day);
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;
        target := CASE WHEN s.upper_bound <= archive_limit THEN archive ELSE live END;
        overlap := audit_events_partition_for_day(target, s.day);
        IF overlap IS NOT NULL THEN
            detail := detail || format('left alone: %s already has %s for this day; '
                                       'merge by hand', target, overlap);
            RETURN NEXT;
            CONTINUE;
        END IF;
        statements := statements || format(
            'ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
            target, s.table_name, s.lower_bound, s.upper_bound);
        detail := detail || format('attach to %s', target);
        IF target = live THEN
            days_to_live := days_to_live || s.day;
            touched_live := true;
        ELSE
            touched_archive := true;
            IF ledger IS NOT NULL THEN
                statements := statements || format(
                    'INSERT INTO %s (archive_table, day, archived_at, row_count, digest)'
                    ' VALUES (%L, %L, now(), NULL, %L) ON CONFLICT (archive_table, day)'
                    ' DO UPDATE SET archived_at = EXCLUDED.archived_at, row_count = NULL,'
                    ' digest = %L', ledger, archive_name, s.day, '', '');
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;

    -- create
    IF first_day IS NOT NULL THEN
        FOR d IN
            SELECT g::date FROM generate_series(first_day, coalesce(last_day, first_day),
                                                interval '1 day') AS g
        LOOP
            CONTINUE WHEN d = ANY (days_to_live)
                OR audit_events_partition_for_day(live, d) IS NOT NULL;
            step := step + 1;
            action := 'create';
            table_name := audit_events_partition_name(
                (SELECT c.relname FROM pg_class AS c WHERE c.oid = live), d);
            day := d;
            detail := format('create and attach to %s', live);
            statements := ARRAY[format('SELECT audit_events_create_day_partition(%L::regclass, %L::date)',
                                       live::text, d)];
            touched_live := true;
            RETURN NEXT;
        END LOOP;
    END IF;

    -- archive
    FOR s IN
        SELECT st.* FROM audit_events_partition_status(live, archive) AS st
        WHERE st.state = 'live' AND st.upper_bound <= archive_limit
        ORDER BY st.lower_bound
    LOOP
        step := step + 1;
        action := 'archive';
        table_name := s.table_name;
        day := s.day;
        overlap := audit_events_partition_for_day(archive, s.day);
        IF overlap IS NOT NULL THEN
            detail := format('left alone: %s already has %s for this day; merge by hand',
                             archive, overlap);
            statements := '{}';
            RETURN NEXT;
            CONTINUE;
        END IF;
        detail := format('detach%s from %s, attach to %s', lower(detach_option), live, archive);
        statements := ARRAY[
            format('ALTER TABLE %s DETACH PARTITION %s%s', live, s.table_name, detach_option),
            format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                   archive, s.table_name, s.lower_bound, s.upper_bound)];
        IF ledger IS NOT NULL THEN
            statements := statements || format(
                'INSERT INTO %s (archive_table, day, archived_at, row_count, digest)'
                ' VALUES (%L, %L, now(), NULL, %L) ON CONFLICT (archive_table, day)'
                ' DO UPDATE SET archived_at = EXCLUDED.archived_at, row_count = NULL,'
                ' digest = %L', ledger, archive_name, s.day, '', '');
        END IF;
        touched_live := true;
        touched_archive := true;
        RETURN NEXT;
    END LOOP;

    -- expire
    FOR s IN
        SELECT st.* FROM audit_events_partition_status(live, archive) AS st
        WHERE st.state = 'archived' AND st.upper_bound <= expire_limit
        ORDER BY st.lower_bound
    LOOP
        step := step + 1;
        action := 'expire';
        table_name := s.table_name;
        day := s.day;
        detail := format('detach%s from %s, drop (past retention)', lower(detach_option), archive);
        statements := ARRAY[
            format('ALTER TABLE %s DETACH PARTITION %s%s', archive, s.table_name, detach_option),
            format('DROP TABLE %s', s.table_name)];
        IF ledger IS NOT NULL THEN
            statements := statements || format(
                'DELETE FROM %s WHERE archive_table = %L AND day = %L',
                ledger, archive_name, s.day);
        END IF;
        touched_archive := true;
        RETURN NEXT;
    END LOOP;

    -- analyze
    IF with_analyze AND touched_live THEN
        step := step + 1;
        action := 'analyze';
        table_name := live::text;
        day := NULL;
        detail := 'refresh the parent''s statistics';
        statements := ARRAY[format(CASE WHEN has_analyze_only THEN 'ANALYZE ONLY %s'
                                        ELSE 'ANALYZE %s' END, live)];
        RETURN NEXT;
    END IF;
    IF with_analyze AND touched_archive AND has_analyze_only THEN
        step := step + 1;
        action := 'analyze';
        table_name := archive::text;
        day := NULL;
        detail := 'refresh the parent''s statistics';
        statements := ARRAY[format('ANALYZE ONLY %s', archive)];
        RETURN NEXT;
    END IF;
END
$$;

-- audit_events_with_ledger(statements, ledger_statement, distributed): a step's
-- STATEMENTS with its ledger statement joined to the last one, so that the two
-- commit together. On plain PostgreSQL they become one query string (one
-- implicit transaction); on Citus, which refuses multi-statement strings, the
-- ledger statement is a statement of its own inside the step's BEGIN ... COMMIT
-- (sql/step_statements.sql).
CREATE OR REPLACE FUNCTION audit_events_with_ledger(
    statements text[], ledger_statement text, distributed boolean)
RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN distributed THEN statements || ledger_statement
        ELSE statements[1:pg_catalog.cardinality(statements) - 1]
             || (statements[pg_catalog.cardinality(statements)] || '; ' || ledger_statement)
    END
$$;

-- Purpose: plan one maintenance run of the event table LIVE and its archive
-- table ARCHIVE, from the catalog alone; one row per step, in the order to run.
-- Each step's STATEMENTS must run one by one at top level, each in its own
-- transaction (DETACH ... CONCURRENTLY refuses a transaction block, a function
-- and a DO block), under a short lock_timeout: psql's \gexec does exactly that
-- (see audit_events_maintenance_statements), and so does rotate_audit_partitions.
-- Crash consistency: only DETACH ... CONCURRENTLY must be alone. What must not
-- be separated shares ONE statement string ('ALTER TABLE ... ATTACH ...; INSERT
-- INTO <ledger> ...'): sent as one simple-protocol query (psql, psycopg without
-- parameters), its commands run as one implicit transaction, so an ATTACH to
-- the archive is never committed without its ledger row, nor a DROP without
-- the ledger row's removal. A kill at any statement boundary leaves only
-- states that the repair step below finishes.
--
-- Steps, in order:
--   repair   finish a DETACH ... CONCURRENTLY that was interrupted (FINALIZE) and
--            attach every orphaned day table where its age says it belongs: the
--            archive when it ends on or before ARCHIVE_BEFORE, else the live table
--            (an archive partition past EXPIRE_BEFORE is dropped instead)
--            and record in the ledger every archive day that has no ledger row,
--            marked repaired_at: that state is no longer made by a crash (see
--            above), only by an older version, a hand-made ATTACH or a deleted
--            ledger row, so verify_audit_events keeps reporting the day
--            ('repaired') instead of laundering it
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
-- When the table audit_events_archivedday exists (in LIVE's schema), archive and
-- expire steps also record or forget the day there.
--
-- Ownership: a day table owned by another role than its parent's owner (made
-- by a superuser, say) gets a repair step giving it to that owner when the
-- current role can (it is a member of both roles, or a superuser); otherwise
-- the repair step only says so, with the statement to run as that role, and the
-- day is left alone: every other day is still maintained.
--
-- Every statement names its tables with their schema, and every value is
-- written in ISO format with a numeric UTC offset (TimeZone and DateStyle are
-- fixed for the call): the statements mean the same in any session.
-- EXPIRE_BEFORE must be before ARCHIVE_BEFORE (retention longer than the archive
-- age, as settings.AUDIT_ARCHIVE_RETENTION_DAYS), and days within 0001-01-01 ..
-- 9999-12-30, or the plan is refused.
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
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
AS $$
#variable_conflict use_column
DECLARE
    archive_limit timestamptz := archive_before::timestamp AT TIME ZONE 'UTC';
    expire_limit timestamptz := expire_before::timestamp AT TIME ZONE 'UTC';
    ledger regclass := pg_catalog.to_regclass(pg_catalog.format('%I.audit_events_archivedday',
        (SELECT c.relnamespace::pg_catalog.regnamespace FROM pg_catalog.pg_class AS c
         WHERE c.oid = live)::text));
    archive_name name := (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = archive);
    has_analyze_only boolean :=
        pg_catalog.current_setting('server_version_num')::integer >= 180000;
    live_q text := audit_events_qualified_name(live);
    archive_q text := audit_events_qualified_name(archive);
    ledger_q text := audit_events_qualified_name(ledger);
    live_owner regrole := (SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = live);
    day_q text;
    owner_fix text;
    distributed boolean := audit_events_is_distributed(live);
    detach_option text := CASE WHEN distributed THEN '' ELSE ' CONCURRENTLY' END;
    ledger_statement text;
    -- The seals (audit_events.tamper) of an expired day go with its ledger row.
    seals regclass := pg_catalog.to_regclass(pg_catalog.format('%s.audit_events_sealedday',
        (SELECT c.relnamespace::pg_catalog.regnamespace FROM pg_catalog.pg_class AS c
         WHERE c.oid = live)::text));
    forget_seal text := '';
    s record;
    d date;
    target regclass;
    overlap regclass;
    days_to_live date[] := '{}';
    touched_live boolean := false;
    touched_archive boolean := false;
    -- The day tables, read once: every loop below works on this one reading.
    statuses jsonb;
    status_columns text := 'table_name text, parent text, day date, lower_bound timestamptz, '
        'upper_bound timestamptz, state text';
BEGIN
    IF seals IS NOT NULL THEN
        forget_seal := pg_catalog.format(
            'WITH forgotten AS (DELETE FROM %s WHERE event_table = %L AND day = $day$) ',
            audit_events_qualified_name(seals),
            (SELECT c.relname FROM pg_catalog.pg_class AS c WHERE c.oid = live));
    END IF;
    IF live IS NULL OR archive IS NULL OR archive_before IS NULL THEN
        RAISE EXCEPTION 'audit_events: live, archive and archive_before are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF expire_before >= archive_before THEN
        RAISE EXCEPTION 'audit_events: expire_before % must be before archive_before %: '
                        'days would be dropped as soon as they are archived',
                        expire_before, archive_before
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Keep days longer than the archive age, or pass NULL to keep them.';
    END IF;
    IF NOT (archive_before BETWEEN DATE '0001-01-01' AND DATE '9999-12-31'
            AND coalesce(expire_before BETWEEN DATE '0001-01-01' AND DATE '9999-12-31', true)
            AND coalesce(first_day >= DATE '0001-01-01', true)
            AND coalesce(coalesce(last_day, first_day) <= DATE '9999-12-30', true)) THEN
        RAISE EXCEPTION 'audit_events: days out of range (archive_before %, expire_before %, '
                        'first_day %, last_day %): partitions hold days from 0001-01-01 to '
                        '9999-12-30', archive_before, expire_before, first_day, last_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF last_day < first_day THEN
        RAISE EXCEPTION 'audit_events: last_day % is before first_day %', last_day, first_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    statuses := (SELECT coalesce(pg_catalog.jsonb_agg(st), '[]')
                 FROM audit_events_day_tables(live, archive) AS st);
    step := 0;

    -- repair: day tables owned by another role than their parent's owner
    FOR s IN
        SELECT st.*, c.relowner::pg_catalog.regrole AS owner,
               (SELECT pc.relowner::pg_catalog.regrole FROM pg_catalog.pg_class AS pc
                WHERE pc.oid = coalesce(st.parent, live::text)::pg_catalog.regclass) AS want
        FROM pg_catalog.jsonb_to_recordset(statuses) AS st (
            table_name text, parent text, day date, lower_bound timestamptz,
            upper_bound timestamptz, state text)
        JOIN pg_catalog.pg_class AS c ON c.oid = st.table_name::pg_catalog.regclass
        ORDER BY st.lower_bound
    LOOP
        CONTINUE WHEN s.owner = s.want;
        step := step + 1;
        action := 'repair';
        table_name := s.table_name;
        day := s.day;
        day_q := audit_events_qualified_name(s.table_name::pg_catalog.regclass);
        owner_fix := pg_catalog.format('ALTER TABLE %s OWNER TO %s', day_q, s.want);
        IF pg_catalog.pg_has_role(current_user, s.owner, 'USAGE')
           AND pg_catalog.pg_has_role(current_user, s.want, 'MEMBER') THEN
            detail := pg_catalog.format('owned by %s, not by %s (the owner of its parent): '
                                        'give it to %s', s.owner, s.want, s.want);
            statements := ARRAY[owner_fix];
        ELSE
            detail := pg_catalog.format('owned by %s, not by %s (the owner of its parent), and '
                                        '%s cannot change that: left alone until %s or a '
                                        'superuser runs: %s', s.owner, s.want, current_user,
                                        s.owner, owner_fix);
            statements := '{}';
        END IF;
        RETURN NEXT;
    END LOOP;

    -- repair
    FOR s IN
        SELECT st.* FROM pg_catalog.jsonb_to_recordset(statuses) AS st (
            table_name text, parent text, day date, lower_bound timestamptz,
            upper_bound timestamptz, state text)
        WHERE st.state IN ('pending', 'orphan')
        ORDER BY st.lower_bound
    LOOP
        step := step + 1;
        action := 'repair';
        table_name := s.table_name;
        day := s.day;
        statements := '{}';
        detail := '';
        day_q := audit_events_qualified_name(s.table_name::pg_catalog.regclass);
        IF NOT (SELECT c.relowner = live_owner
                OR (pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
                    AND pg_catalog.pg_has_role(current_user, live_owner, 'MEMBER'))
            FROM pg_catalog.pg_class AS c WHERE c.oid = s.table_name::pg_catalog.regclass) THEN
            CONTINUE;  -- reported by the ownership repair above
        END IF;
        IF s.state = 'pending' THEN
            statements := ARRAY[pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s FINALIZE',
                                       audit_events_qualified_name(s.parent::pg_catalog.regclass),
                                       day_q)];
            detail := pg_catalog.format('finish the interrupted detach from %s; ', s.parent);
            touched_live := touched_live OR s.parent = live::text;
            touched_archive := touched_archive OR s.parent = archive::text;
        END IF;
        IF s.parent = archive::text AND s.upper_bound <= expire_limit THEN
            statements := statements || pg_catalog.format('DROP TABLE %s', day_q);
            detail := detail || 'drop it (past retention)';
            IF ledger IS NOT NULL THEN
                ledger_statement := pg_catalog.replace(forget_seal, '$day$',
                                                       pg_catalog.quote_literal(s.day))
                    || pg_catalog.format('DELETE FROM %s WHERE archive_table = %L AND day = %L',
                                         ledger_q, archive_name, s.day);
                statements := audit_events_with_ledger(statements, ledger_statement, distributed);
            END IF;
            RETURN NEXT;
            CONTINUE;
        END IF;
        target := CASE WHEN s.upper_bound <= archive_limit THEN archive ELSE live END;
        overlap := audit_events_partition_for_day(target, s.day);
        IF overlap IS NOT NULL THEN
            detail := detail || pg_catalog.format('left alone: %s already has %s for this day; '
                                       'merge by hand', target, overlap);
            RETURN NEXT;
            CONTINUE;
        END IF;
        statements := statements || pg_catalog.format(
            'ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
            audit_events_qualified_name(target), day_q, s.lower_bound, s.upper_bound);
        detail := detail || pg_catalog.format('attach to %s', target);
        IF target = live THEN
            days_to_live := days_to_live || s.day;
            touched_live := true;
        ELSE
            touched_archive := true;
            -- A record that exists is kept: the table was archived before (an
            -- expiry was interrupted after its detach), and replacing its digest
            -- would launder whatever was done to the table while it was detached.
            IF ledger IS NOT NULL THEN
                ledger_statement := pg_catalog.format(
                    'INSERT INTO %s (archive_table, day, archived_at, row_count, digest)'
                    ' VALUES (%L, %L, pg_catalog.now(), NULL, %L) ON CONFLICT (archive_table, day)'
                    ' DO NOTHING', ledger_q, archive_name, s.day, '');
                statements := audit_events_with_ledger(statements, ledger_statement, distributed);
            END IF;
        END IF;
        RETURN NEXT;
    END LOOP;

    -- repair: archive days without a ledger row (see the header: never made by
    -- a crash any more; recorded, but marked, so that verify still reports them)
    IF ledger IS NOT NULL THEN
        FOR s IN EXECUTE pg_catalog.format(
            'SELECT st.* FROM pg_catalog.jsonb_to_recordset($1) AS st (%s)'
            ' WHERE st.state = ''archived'' AND NOT EXISTS (SELECT FROM %s AS l'
            ' WHERE l.archive_table = $2 AND l.day = st.day) ORDER BY st.lower_bound',
            status_columns, ledger_q) USING statuses, archive_name
        LOOP
            step := step + 1;
            action := 'repair';
            table_name := s.table_name;
            day := s.day;
            detail := pg_catalog.format('record the unrecorded archive day in %s (marked repaired: '
                             'verify_audit_events reports it)', ledger_q);
            statements := ARRAY[pg_catalog.format(
                'INSERT INTO %s (archive_table, day, archived_at, row_count, digest, repaired_at)'
                ' VALUES (%L, %L, pg_catalog.now(), NULL, %L, pg_catalog.now()) ON CONFLICT (archive_table, day)'
                ' DO NOTHING', ledger_q, archive_name, s.day, '')];
            RETURN NEXT;
        END LOOP;
    END IF;

    -- create
    IF first_day IS NOT NULL THEN
        FOR d IN
            SELECT g::date FROM pg_catalog.generate_series(
                first_day::timestamp, coalesce(last_day, first_day)::timestamp,
                interval '1 day') AS g
        LOOP
            CONTINUE WHEN d = ANY (days_to_live)
                OR audit_events_partition_for_day(live, d) IS NOT NULL;
            step := step + 1;
            action := 'create';
            table_name := audit_events_partition_name(
                (SELECT c.relname::text FROM pg_catalog.pg_class AS c WHERE c.oid = live), d);
            day := d;
            detail := pg_catalog.format('create and attach to %s', live);
            statements := ARRAY[pg_catalog.format(
                'SELECT %s.audit_events_create_day_partition(%L::pg_catalog.regclass, %L::date)',
                (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
                 WHERE p.oid = 'audit_events_create_day_partition(regclass, date)'
                     ::pg_catalog.regprocedure),
                live_q, d)];
            touched_live := true;
            RETURN NEXT;
        END LOOP;
    END IF;

    -- archive
    FOR s IN
        SELECT st.* FROM pg_catalog.jsonb_to_recordset(statuses) AS st (
            table_name text, parent text, day date, lower_bound timestamptz,
            upper_bound timestamptz, state text)
        WHERE st.state = 'live' AND st.upper_bound <= archive_limit
        ORDER BY st.lower_bound
    LOOP
        step := step + 1;
        action := 'archive';
        table_name := s.table_name;
        day := s.day;
        overlap := audit_events_partition_for_day(archive, s.day);
        day_q := audit_events_qualified_name(s.table_name::pg_catalog.regclass);
        IF overlap IS NOT NULL OR NOT (SELECT c.relowner = live_owner
                OR (pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
                    AND pg_catalog.pg_has_role(current_user, live_owner, 'MEMBER'))
            FROM pg_catalog.pg_class AS c WHERE c.oid = s.table_name::pg_catalog.regclass) THEN
            detail := CASE WHEN overlap IS NULL
                THEN 'left alone: owned by another role (see its repair step)'
                ELSE pg_catalog.format('left alone: %s already has %s for this day; '
                                       'merge by hand', archive, overlap) END;
            statements := '{}';
            RETURN NEXT;
            CONTINUE;
        END IF;
        detail := pg_catalog.format('detach%s from %s, attach to %s',
                                    pg_catalog.lower(detach_option), live, archive);
        statements := ARRAY[
            pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s%s', live_q, day_q, detach_option),
            pg_catalog.format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                   archive_q, day_q, s.lower_bound, s.upper_bound)];
        IF ledger IS NOT NULL THEN
            ledger_statement := pg_catalog.format(
                'INSERT INTO %s (archive_table, day, archived_at, row_count, digest)'
                ' VALUES (%L, %L, pg_catalog.now(), NULL, %L) ON CONFLICT (archive_table, day)'
                ' DO UPDATE SET archived_at = EXCLUDED.archived_at, row_count = NULL,'
                ' digest = %L', ledger_q, archive_name, s.day, '', '');
            statements := audit_events_with_ledger(statements, ledger_statement, distributed);
        END IF;
        touched_live := true;
        touched_archive := true;
        RETURN NEXT;
    END LOOP;

    -- expire
    FOR s IN
        SELECT st.* FROM pg_catalog.jsonb_to_recordset(statuses) AS st (
            table_name text, parent text, day date, lower_bound timestamptz,
            upper_bound timestamptz, state text)
        WHERE st.state = 'archived' AND st.upper_bound <= expire_limit
        ORDER BY st.lower_bound
    LOOP
        step := step + 1;
        action := 'expire';
        table_name := s.table_name;
        day := s.day;
        day_q := audit_events_qualified_name(s.table_name::pg_catalog.regclass);
        IF NOT (SELECT c.relowner = live_owner
                OR (pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
                    AND pg_catalog.pg_has_role(current_user, live_owner, 'MEMBER'))
            FROM pg_catalog.pg_class AS c WHERE c.oid = s.table_name::pg_catalog.regclass) THEN
            detail := 'left alone: owned by another role (see its repair step)';
            statements := '{}';
            RETURN NEXT;
            CONTINUE;
        END IF;
        detail := pg_catalog.format('detach%s from %s, drop (past retention)',
                                    pg_catalog.lower(detach_option), archive);
        statements := ARRAY[
            pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s%s', archive_q, day_q, detach_option),
            pg_catalog.format('DROP TABLE %s', day_q)];
        IF ledger IS NOT NULL THEN
            ledger_statement := pg_catalog.replace(forget_seal, '$day$',
                                                   pg_catalog.quote_literal(s.day))
                || pg_catalog.format('DELETE FROM %s WHERE archive_table = %L AND day = %L',
                                     ledger_q, archive_name, s.day);
            statements := audit_events_with_ledger(statements, ledger_statement, distributed);
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
        statements := ARRAY[pg_catalog.format(CASE WHEN has_analyze_only THEN 'ANALYZE ONLY %s'
                                        ELSE 'ANALYZE %s' END, live_q)];
        RETURN NEXT;
    END IF;
    IF with_analyze AND touched_archive AND has_analyze_only THEN
        step := step + 1;
        action := 'analyze';
        table_name := archive::text;
        day := NULL;
        detail := 'refresh the parent''s statistics';
        statements := ARRAY[pg_catalog.format('ANALYZE ONLY %s', archive_q)];
        RETURN NEXT;
    END IF;
END
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp: the
-- caller's search_path and DateStyle/TimeZone change nothing. Objects of
-- pg_catalog are named with their schema so that no function of the same name
-- elsewhere can stand in for them.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_plan_maintenance(regclass, regclass, date, date, date, date, boolean)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

-- Purpose: the state of every day table of the event table LIVE and its archive
-- table ARCHIVE, one row per table, in day order:
--   live      attached to LIVE
--   archived  attached to ARCHIVE
--   pending   attached, but a DETACH ... CONCURRENTLY did not finish: its rows are
--             invisible and inserts for its day fail until DETACH ... FINALIZE
--   orphan    attached to neither, found by our naming (<parent>_pYYYYMMDD) and
--             its bounds CHECK constraint: a run was interrupted between DETACH
--             and ATTACH, or between CREATE and ATTACH
-- estimated_rows is pg_class.reltuples (NULL until the table was first analyzed);
-- size_bytes includes indexes and TOAST. The catalog is the only source (the
-- tables and their states: audit_events_day_tables).
--
-- A function rather than a view because the two parents are swappable models:
--   SELECT * FROM audit_events_partition_status('audit_events_auditevent',
--                                                'audit_events_archivedauditevent');
CREATE OR REPLACE FUNCTION audit_events_partition_status(live regclass, archive regclass)
RETURNS TABLE (
    table_name text,
    parent text,
    day date,
    lower_bound timestamptz,
    upper_bound timestamptz,
    state text,
    estimated_rows bigint,
    size_bytes bigint
)
LANGUAGE sql STABLE STRICT
AS $$
    SELECT d.table_name,
           d.parent,
           d.day,
           d.lower_bound,
           d.upper_bound,
           d.state,
           NULLIF(c.reltuples, -1)::bigint,
           pg_catalog.pg_total_relation_size(d.relid)
    FROM audit_events_day_tables(live, archive) AS d
    JOIN pg_catalog.pg_class AS c ON c.oid = d.relid
    ORDER BY d.lower_bound, d.state, 1
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp: the
-- caller's search_path and DateStyle/TimeZone change nothing. Objects of
-- pg_catalog are named with their schema so that no function of the same name
-- elsewhere can stand in for them.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_partition_status(regclass, regclass)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

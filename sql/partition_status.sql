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
-- size_bytes includes indexes and TOAST. The catalog is the only source.
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
    WITH parents AS (
        SELECT c.oid, c.relname, c.relnamespace, v.kind
        FROM (VALUES (live, 'live'), (archive, 'archived')) AS v (parent, kind)
        JOIN pg_catalog.pg_class AS c ON c.oid = v.parent
    ),
    attached AS (
        SELECT i.inhrelid AS relid,
               p.oid::pg_catalog.regclass::text AS parent,
               CASE WHEN i.inhdetachpending THEN 'pending' ELSE p.kind END AS state,
               b.lower_bound,
               b.upper_bound
        FROM parents AS p
        JOIN pg_catalog.pg_inherits AS i ON i.inhparent = p.oid
        CROSS JOIN LATERAL audit_events_partition_bounds(i.inhrelid::pg_catalog.regclass) AS b
    ),
    orphans AS (
        SELECT DISTINCT ON (c.oid)
               c.oid AS relid,
               NULL::text AS parent,
               'orphan' AS state,
               b.lower_bound,
               b.upper_bound
        FROM parents AS p
        JOIN pg_catalog.pg_class AS c
          ON c.relnamespace = p.relnamespace
         AND c.relkind = 'r'
         AND NOT c.relispartition
         AND pg_catalog.right(c.relname, 8) OPERATOR(pg_catalog.~) '^[0-9]{8}$'
         AND pg_catalog.left(c.relname, -8)
             = pg_catalog.left(audit_events_partition_name(p.relname::text, DATE '2000-01-01'), -8)
        CROSS JOIN LATERAL audit_events_check_bounds(c.oid::pg_catalog.regclass) AS b
        WHERE b.lower_bound IS NOT NULL
    )
    SELECT a.relid::pg_catalog.regclass::text,
           a.parent,
           (a.lower_bound AT TIME ZONE 'UTC')::date,
           a.lower_bound,
           a.upper_bound,
           a.state,
           NULLIF(c.reltuples, -1)::bigint,
           pg_catalog.pg_total_relation_size(a.relid)
    FROM (SELECT * FROM attached UNION ALL SELECT * FROM orphans) AS a
    JOIN pg_catalog.pg_class AS c ON c.oid = a.relid
    ORDER BY a.lower_bound, a.state, 1
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

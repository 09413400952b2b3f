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
        JOIN pg_class AS c ON c.oid = v.parent
    ),
    attached AS (
        SELECT i.inhrelid AS relid,
               p.oid::regclass::text AS parent,
               CASE WHEN i.inhdetachpending THEN 'pending' ELSE p.kind END AS state,
               b.lower_bound,
               b.upper_bound
        FROM parents AS p
        JOIN pg_inherits AS i ON i.inhparent = p.oid
        CROSS JOIN LATERAL audit_events_partition_bounds(i.inhrelid::regclass) AS b
    ),
    orphans AS (
        SELECT DISTINCT ON (c.oid)
               c.oid AS relid,
               NULL::text AS parent,
               'orphan' AS state,
               b.lower_bound,
               b.upper_bound
        FROM parents AS p
        JOIN pg_class AS c
          ON c.relnamespace = p.relnamespace
         AND c.relkind = 'r'
         AND NOT c.relispartition
         AND right(c.relname, 8) ~ '^[0-9]{8}$'
         AND left(c.relname, -8)
             = left(audit_events_partition_name(p.relname, DATE '2000-01-01'), -8)
        CROSS JOIN LATERAL audit_events_check_bounds(c.oid::regclass) AS b
        WHERE b.lower_bound IS NOT NULL
    )
    SELECT a.relid::regclass::text,
           a.parent,
           (a.lower_bound AT TIME ZONE 'UTC')::date,
           a.lower_bound,
           a.upper_bound,
           a.state,
           NULLIF(c.reltuples, -1)::bigint,
           pg_total_relation_size(a.relid)
    FROM (SELECT * FROM attached UNION ALL SELECT * FROM orphans) AS a
    JOIN pg_class AS c ON c.oid = a.relid
    ORDER BY a.lower_bound, a.state, 1
$$;

-- Purpose: every day table of the event table LIVE and its archive table
-- ARCHIVE, with its bounds and state (live, archived, pending or orphan, see
-- audit_events_partition_status, which adds the row estimate and the size):
-- what the maintenance plan reads, once per run, without the sizes, which cost
-- a file lookup per table and fork, so that a plan over a long archive stays
-- short. RELID is the table's oid. The bounds are read from the catalog's
-- partition bound (attached tables) or from the bounds CHECK constraint
-- (orphans); TimeZone and DateStyle are fixed for the call so that the bound's
-- text reads back as the same instant.
CREATE OR REPLACE FUNCTION audit_events_day_tables(live regclass, archive regclass)
RETURNS TABLE (
    relid oid,
    table_name text,
    parent text,
    day date,
    lower_bound timestamptz,
    upper_bound timestamptz,
    state text
)
LANGUAGE sql STABLE STRICT
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
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
               m[1]::timestamptz AS lower_bound,
               m[2]::timestamptz AS upper_bound
        FROM parents AS p
        JOIN pg_catalog.pg_inherits AS i ON i.inhparent = p.oid
        JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        -- as audit_events_partition_bounds, inline: one call per day table adds up
        CROSS JOIN LATERAL pg_catalog.regexp_match(
            pg_catalog.pg_get_expr(c.relpartbound, c.oid),
            '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS m
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
    SELECT a.relid,
           a.relid::pg_catalog.regclass::text,
           a.parent,
           (a.lower_bound AT TIME ZONE 'UTC')::date,
           a.lower_bound,
           a.upper_bound,
           a.state
    FROM (SELECT * FROM attached UNION ALL SELECT * FROM orphans) AS a
    ORDER BY a.lower_bound, a.state, 2
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_day_tables(regclass, regclass)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

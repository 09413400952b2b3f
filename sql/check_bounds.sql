-- Purpose: the day range a table's bounds CHECK constraint allows, or NULLs.
--
-- Every day table gets, when it is created, a CHECK constraint named
-- <table>_bounds equal to its partition bounds (so ATTACH needs no scan). A
-- table that is attached to no parent (an archive interrupted between DETACH
-- and ATTACH, or a create interrupted before ATTACH) still carries it: that is
-- how repair finds the day of an orphaned table from the catalog alone. The
-- constraint's text is read with TimeZone and DateStyle fixed, as in
-- audit_events_partition_bounds.
CREATE OR REPLACE FUNCTION audit_events_check_bounds(
    tbl regclass,
    OUT lower_bound timestamptz,
    OUT upper_bound timestamptz
)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
AS $$
    SELECT m[1]::timestamptz, m[2]::timestamptz
    FROM pg_class AS c
    JOIN pg_constraint AS k
      ON k.conrelid = c.oid AND k.contype = 'c' AND k.conname = left(c.relname, 56) || '_bounds'
    CROSS JOIN LATERAL regexp_match(
        pg_get_constraintdef(k.oid),
        '>= ''([^'']+)''::timestamp with time zone\).* < ''([^'']+)''::timestamp with time zone'
    ) AS m
    WHERE c.oid = tbl
$$;

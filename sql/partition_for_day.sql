-- Purpose: the partition of PARENT whose range contains the start of the UTC day
-- DAY, or NULL. Partitions still being detached (inhdetachpending) count: their
-- range is taken until the detach is finalized.
CREATE OR REPLACE FUNCTION audit_events_partition_for_day(parent regclass, day date)
RETURNS regclass
LANGUAGE sql STABLE STRICT
AS $$
    SELECT i.inhrelid::pg_catalog.regclass
    FROM pg_catalog.pg_inherits AS i,
         audit_events_partition_bounds(i.inhrelid::pg_catalog.regclass) AS b
    WHERE i.inhparent = parent
      AND b.lower_bound <= (day::timestamp AT TIME ZONE 'UTC')
      AND b.upper_bound > (day::timestamp AT TIME ZONE 'UTC')
    LIMIT 1
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp: the
-- caller's search_path and DateStyle/TimeZone change nothing. Objects of
-- pg_catalog are named with their schema so that no function of the same name
-- elsewhere can stand in for them.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_partition_for_day(regclass, date)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

-- Purpose: the partition of PARENT whose range contains the start of the UTC day
-- DAY, or NULL. Partitions still being detached (inhdetachpending) count: their
-- range is taken until the detach is finalized.
CREATE OR REPLACE FUNCTION audit_events_partition_for_day(parent regclass, day date)
RETURNS regclass
LANGUAGE sql STABLE STRICT
AS $$
    SELECT i.inhrelid::regclass
    FROM pg_inherits AS i,
         audit_events_partition_bounds(i.inhrelid::regclass) AS b
    WHERE i.inhparent = parent
      AND b.lower_bound <= (day::timestamp AT TIME ZONE 'UTC')
      AND b.upper_bound > (day::timestamp AT TIME ZONE 'UTC')
    LIMIT 1
$$;

-- Purpose: the range bounds of one partition, read from the catalog
-- (pg_class.relpartbound) rather than from its name, which is only cosmetic.
-- Returns NULLs for a table that is not a range partition with finite bounds.
CREATE OR REPLACE FUNCTION audit_events_partition_bounds(
    partition regclass,
    OUT lower_bound timestamptz,
    OUT upper_bound timestamptz
)
LANGUAGE sql STABLE STRICT
AS $$
    SELECT m[1]::timestamptz, m[2]::timestamptz
    FROM pg_class AS c,
         regexp_match(pg_get_expr(c.relpartbound, c.oid),
                      '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS m
    WHERE c.oid = partition
$$;

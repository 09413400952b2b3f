-- Purpose: the range bounds of one partition, read from the catalog
-- (pg_class.relpartbound) rather than from its name, which is only cosmetic.
-- Returns NULLs for a table that is not a range partition with finite bounds.
--
-- The catalog keeps the bounds as a node tree whose only SQL reading is the text
-- of pg_get_expr, rendered in the session's TimeZone and DateStyle: a time zone
-- with an ambiguous abbreviation (Asia/Shanghai's CST, Asia/Kolkata's IST) or a
-- day-first DateStyle would read it back as another instant. TimeZone and
-- DateStyle are therefore fixed for the call: the text is ISO with a numeric
-- offset (+00), which reads back as the same value in every session.
CREATE OR REPLACE FUNCTION audit_events_partition_bounds(
    partition regclass,
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
    FROM pg_class AS c,
         regexp_match(pg_get_expr(c.relpartbound, c.oid),
                      '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$') AS m
    WHERE c.oid = partition
$$;

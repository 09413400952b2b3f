-- Purpose: the number of rows of PARENT in the UTC day DAY, and a SHA-256 digest
-- of them, so that a later recount shows whether any row was changed, removed
-- or added (the seal of a day, see audit_events.tamper).
--
-- Each row is encoded as the text of a row value of the HASHED columns (NULL:
-- every column the table has now, in column order); the seal records that list,
-- so a column added later (AddField) leaves every seal valid. The row's text is
-- hashed in C (sha256, 32 bytes per row), then the day is folded in two levels,
-- with no per-row PL/pgSQL step: the hashes of each minute are concatenated in
-- order and hashed, then the minute hashes are concatenated and hashed. Memory
-- stays small whatever the day's size: the sort spills to disk beyond work_mem,
-- a minute's string holds 32 bytes per row of that minute, and a day has at most
-- 1,440 minutes. Rows are taken in the order of the partition key, then of the
-- primary key's other columns: the same rows always give the same digest,
-- whatever their physical order. (The aggregates consume the rows in the order
-- of the sorted subquery, which the GroupAggregate above it keeps.)
--
-- TimeZone, DateStyle, IntervalStyle and extra_float_digits are fixed for the
-- call so that values render the same in every session; JIT is off, its compile
-- time costs more than it saves here (measured: 13.2 s against 14.4 s per million
-- rows on a loaded machine, and most of the time of a small day).
-- (The first version took no column list; dropping it keeps calls unambiguous.)
DROP FUNCTION IF EXISTS audit_events_day_digest(regclass, date);
CREATE OR REPLACE FUNCTION audit_events_day_digest(parent regclass, day date,
                                                   hashed name[] DEFAULT NULL)
RETURNS TABLE (row_count bigint, digest text, hashed_columns name[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
SET extra_float_digits = 1
SET jit = off
AS $$
DECLARE
    lower_bound timestamptz := day::timestamp AT TIME ZONE 'UTC';
    upper_bound timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    key_column name;
    key_table regclass := parent;
    order_list text;
    row_list text;
    order_columns text;
    order_keys text;
BEGIN
    SELECT a.attname INTO key_column
    FROM pg_catalog.pg_partitioned_table AS pt
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = parent;
    IF key_column IS NULL THEN
        RAISE EXCEPTION 'audit_events: % is not a partitioned table', parent
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF hashed IS NULL THEN
        SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) INTO hashed
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = parent AND a.attnum > 0 AND NOT a.attisdropped;
    END IF;
    -- A parent without a key of its own (the archive on Citus, see
    -- audit_events.distribution) orders by the key of the day's partition.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint AS c
                   WHERE c.conrelid = parent AND c.contype = 'p') THEN
        SELECT i.inhrelid INTO key_table
        FROM pg_catalog.pg_inherits AS i
        JOIN pg_catalog.pg_class AS d ON d.oid = i.inhrelid
        WHERE i.inhparent = parent
          AND pg_catalog.pg_get_expr(d.relpartbound, d.oid) = pg_catalog.format(
              'FOR VALUES FROM (%L) TO (%L)', lower_bound, upper_bound);
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', c), ', ' ORDER BY k) INTO row_list
    FROM pg_catalog.unnest(hashed) WITH ORDINALITY AS u(c, k);
    SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', a.attname), ', ' ORDER BY k.ord),
           pg_catalog.string_agg(pg_catalog.format(', t.%I AS o%s', a.attname, k.ord), ''
                                 ORDER BY k.ord),
           pg_catalog.string_agg(pg_catalog.format(', s.o%s', k.ord), '' ORDER BY k.ord)
    INTO order_list, order_columns, order_keys
    FROM pg_catalog.pg_constraint AS c
    CROSS JOIN LATERAL pg_catalog.unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
    WHERE c.conrelid = key_table AND c.contype = 'p' AND a.attname <> key_column;
    -- Each aggregate names its order (ORDER BY inside the call): the digest must
    -- not depend on the order a plan happens to feed rows in (Citus merges the
    -- shards' rows in no order; a HashAggregate returns groups in no order).
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT coalesce(pg_catalog.sum(m.n), 0)::bigint, pg_catalog.encode(pg_catalog.sha256('
        '  coalesce(pg_catalog.string_agg(m.h, ''''::bytea ORDER BY m.minute), ''''::bytea)),'
        '  ''hex''), $3'
        ' FROM (SELECT s.minute, pg_catalog.count(*) AS n,'
        '         pg_catalog.sha256(pg_catalog.string_agg(s.h, ''''::bytea ORDER BY s.k%s)) AS h'
        '       FROM (SELECT pg_catalog.date_trunc(''minute'', t.%I) AS minute, t.%I AS k%s,'
        '               pg_catalog.sha256(pg_catalog.convert_to(ROW(%s)::text, ''UTF8'')) AS h'
        '             FROM %s AS t WHERE t.%I >= $1 AND t.%I < $2'
        '             ORDER BY 1, t.%I%s) AS s'
        '       GROUP BY s.minute) AS m',
        coalesce(order_keys, ''), key_column, key_column, coalesce(order_columns, ''),
        row_list, parent, key_column,
        key_column, key_column,
        CASE WHEN order_list IS NULL THEN '' ELSE ', ' || order_list END)
        USING lower_bound, upper_bound, hashed;
END
$$;

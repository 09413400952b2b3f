-- The day digest as shipped before sealing (kept for the benchmark only: python -m bench
-- times it beside today's audit_events_day_digest, in the same run).
-- Purpose: the number of rows of PARENT in the UTC day DAY, and a SHA-256 digest
-- of them, so that a later recount shows whether any row was changed, removed
-- or added (tamper evidence of archived days, see audit_events.tamper).
--
-- Streaming: a FOR loop over a query reads through a cursor a few rows at a
-- time, and the digest is a hash chain, h(n) = sha256(h(n-1) || row(n)) from
-- h(0) = sha256(''), so memory stays constant however large the day is (an
-- aggregate such as string_agg would build the whole day in memory and stop at
-- 1 GB). Rows are taken in the order of the partition key, then of the primary
-- key columns: the same rows always give the same digest.
--
-- Each row is hashed as the text of its JSON object (jsonb: keys in a canonical
-- order) with NULLs stripped: adding a nullable column to the event models later
-- (AddField) leaves every recorded digest valid. The price: jsonb_strip_nulls
-- also strips JSON nulls nested in content, so an edit that only adds or removes
-- a null value goes unseen (stripping only top-level keys cost three times as
-- much: 3.5 s instead of 1.2 s for 200,000 rows). TimeZone, DateStyle and
-- IntervalStyle are fixed for the call so that values render the same in every
-- session.
CREATE OR REPLACE FUNCTION bench_legacy_day_digest(parent regclass, day date,
                                                   OUT row_count bigint, OUT digest text)
LANGUAGE plpgsql STABLE
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
AS $$
DECLARE
    lower_bound timestamptz := day::timestamp AT TIME ZONE 'UTC';
    upper_bound timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    key_column name;
    order_list text;
    chain bytea := sha256(''::bytea);
    r record;
BEGIN
    SELECT a.attname INTO key_column
    FROM pg_partitioned_table AS pt
    JOIN pg_attribute AS a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = parent;
    IF key_column IS NULL THEN
        RAISE EXCEPTION 'audit_events: % is not a partitioned table', parent
            USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY k.ord) INTO order_list
    FROM pg_constraint AS c
    CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
    WHERE c.conrelid = parent AND c.contype = 'p' AND a.attname <> key_column;
    row_count := 0;
    FOR r IN EXECUTE format(
        'SELECT jsonb_strip_nulls(to_jsonb(t))::text AS line FROM %s AS t'
        ' WHERE t.%I >= $1 AND t.%I < $2 ORDER BY t.%I%s',
        parent, key_column, key_column, key_column,
        CASE WHEN order_list IS NULL THEN '' ELSE ', ' || order_list END)
        USING lower_bound, upper_bound
    LOOP
        chain := sha256(chain || convert_to(r.line, 'UTF8'));
        row_count := row_count + 1;
    END LOOP;
    digest := encode(chain, 'hex');
END
$$;

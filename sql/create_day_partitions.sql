-- Purpose: make sure PARENT has a partition for every UTC day from FIRST_DAY to
-- LAST_DAY (both included); return them in day order. One transaction for the
-- whole range: callers that must not hold locks for long (rotation, pg_cron)
-- call audit_events_create_day_partition once per day instead.
CREATE OR REPLACE FUNCTION audit_events_create_day_partitions(
    parent regclass,
    first_day date,
    last_day date
)
RETURNS SETOF regclass
LANGUAGE plpgsql
AS $$
DECLARE
    day date;
BEGIN
    IF last_day < first_day THEN
        RAISE EXCEPTION 'audit_events: last_day % is before first_day %', last_day, first_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (first_day >= DATE '0001-01-01' AND last_day <= DATE '9999-12-30') THEN
        RAISE EXCEPTION 'audit_events: days % to % are out of range: partitions hold days '
                        'from 0001-01-01 to 9999-12-30', first_day, last_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR day IN SELECT pg_catalog.generate_series(first_day::timestamp, last_day::timestamp,
                                                 interval '1 day')::date LOOP
        RETURN NEXT audit_events_create_day_partition(parent, day);
    END LOOP;
END
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp: the
-- caller's search_path and DateStyle/TimeZone change nothing. Objects of
-- pg_catalog are named with their schema so that no function of the same name
-- elsewhere can stand in for them.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_create_day_partitions(regclass, date, date)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

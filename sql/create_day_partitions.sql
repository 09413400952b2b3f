-- Purpose: make sure PARENT has a partition for every UTC day from FIRST_DAY to
-- LAST_DAY (both included); return them in day order. One transaction for the
-- whole range: callers that must not hold locks for long (rotation) call
-- audit_events_create_day_partition once per day instead.
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
    FOR day IN SELECT generate_series(first_day, last_day, interval '1 day')::date LOOP
        RETURN NEXT audit_events_create_day_partition(parent, day);
    END LOOP;
END
$$;

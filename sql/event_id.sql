-- Purpose: a new event id for an event at TS: a UUIDv7 whose time is TS to the
-- microsecond (milliseconds in unix_ts_ms, the sub-millisecond fraction in
-- rand_a as ceil(µs * 4096 / 1000), 62 random bits), exactly what
-- audit_events.ids.uuid7_for() makes in Python. Every event table refuses a row
-- whose timestamp is not the time in its id (CHECK audit_events_id_is_time), so
-- SQL that inserts events (imports, backfills) takes its ids from here:
--   INSERT INTO audit_events_auditevent (id, timestamp, ...)
--   SELECT audit_events_uuid7(t.ts), t.ts, ... FROM ...
-- TS before 1970-01-01 UTC cannot be encoded: an error.
CREATE OR REPLACE FUNCTION audit_events_uuid7(ts timestamptz)
RETURNS uuid
LANGUAGE plpgsql VOLATILE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    micros bigint := (extract(epoch FROM ts) * 1000000)::bigint;
BEGIN
    IF micros < 0 THEN
        RAISE EXCEPTION 'audit event timestamp % is before 1970-01-01: event ids (UUIDv7) '
            'count from the Unix epoch', ts
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN encode(
        int8send(((micros / 1000) << 16) | 28672 | (((micros % 1000) * 4096 + 999) / 1000))
            || substring(uuid_send(gen_random_uuid()) FROM 9 FOR 8),
        'hex')::uuid;
END
$$;

-- Purpose: the name of the partition of PARENT_NAME that holds the UTC day DAY:
-- <parent>_pYYYYMMDD. When that would pass PostgreSQL's 63-byte identifier limit
-- (and be silently truncated into a clash), a short hash of the parent's name
-- stands in for it.
CREATE OR REPLACE FUNCTION audit_events_partition_name(parent_name text, day date)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN octet_length(parent_name) <= 53 THEN parent_name || '_p' || to_char(day, 'YYYYMMDD')
        ELSE 'audit_events_' || substr(md5(parent_name), 1, 16) || '_p' || to_char(day, 'YYYYMMDD')
    END
$$;

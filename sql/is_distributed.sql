-- Purpose: whether REL is a Citus distributed table; false on plain PostgreSQL
-- (no citus extension). The maintenance plan asks it at run time to leave out
-- what Citus refuses (DETACH ... CONCURRENTLY) and to bound waits on the workers
-- (see audit_events_step_statements and docs/scaling.md).
CREATE OR REPLACE FUNCTION audit_events_is_distributed(rel regclass)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    distributed boolean;
BEGIN
    -- pg_dist_partition exists only once the citus extension is created, so the
    -- query is built at run time: the function installs on plain PostgreSQL too.
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1)'
        INTO distributed USING rel;
    RETURN distributed;
END
$$;

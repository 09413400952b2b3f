-- Purpose: make sure PARENT has a partition for the UTC day DAY; return it.
--
-- It never takes ACCESS EXCLUSIVE on PARENT (as CREATE TABLE ... PARTITION OF
-- would, queueing every insert behind any long report). The table is created on
-- its own, LIKE the parent, with a CHECK constraint equal to its bounds so that
-- ATTACH needs no validation scan; ATTACH then takes only SHARE UPDATE EXCLUSIVE
-- on PARENT, so inserts and selects go on. A table of that name left unattached
-- by an interrupted run is attached as it is (it carries the same CHECK). A
-- table of that name attached to another parent (the day was archived: the
-- same table now belongs to the archive table) is returned as it is: the day
-- exists, and moving it back is no business of this function.
CREATE OR REPLACE FUNCTION audit_events_create_day_partition(parent regclass, day date)
RETURNS regclass
LANGUAGE plpgsql
AS $$
DECLARE
    lower_bound timestamptz := day::timestamp AT TIME ZONE 'UTC';
    upper_bound timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    existing regclass := audit_events_partition_for_day(parent, day);
    parent_schema name;
    parent_name name;
    key_column name;
    partition_name text;
    qualified text;
BEGIN
    IF existing IS NOT NULL THEN
        RETURN existing;
    END IF;
    SELECT n.nspname, c.relname INTO parent_schema, parent_name
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = parent AND c.relkind = 'p';
    IF parent_name IS NULL THEN
        RAISE EXCEPTION 'audit_events: % is not a partitioned table', parent
            USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT a.attname INTO key_column
    FROM pg_partitioned_table AS pt
    JOIN pg_attribute AS a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = parent;
    partition_name := audit_events_partition_name(parent_name, day);
    qualified := format('%I.%I', parent_schema, partition_name);
    IF EXISTS (SELECT FROM pg_inherits AS i
               WHERE i.inhrelid = to_regclass(qualified) AND i.inhparent <> parent) THEN
        RETURN qualified::regclass;
    END IF;
    IF to_regclass(qualified) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
            ' INCLUDING STORAGE INCLUDING COMMENTS)', qualified, parent);
        EXECUTE format(
            'ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)',
            qualified, left(partition_name, 56) || '_bounds',
            key_column, lower_bound, key_column, upper_bound);
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                   parent, qualified, lower_bound, upper_bound);
    RETURN qualified::regclass;
END
$$;

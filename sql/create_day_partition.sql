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
--
-- The day table is owned by PARENT's owner, whichever role creates it (a
-- superuser, or a member of the owner role): rotation, run as the owner, must
-- be able to detach, attach and drop it, and the owner to open the append-only
-- guard on it. A role that is not a member of the owner role is refused before
-- anything is created (ATTACH would refuse it anyway).
CREATE OR REPLACE FUNCTION audit_events_create_day_partition(parent regclass, day date)
RETURNS regclass
LANGUAGE plpgsql
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET IntervalStyle = 'postgres'
AS $$
DECLARE
    lower_bound timestamptz := day::timestamp AT TIME ZONE 'UTC';
    upper_bound timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
    existing regclass;
    parent_schema name;
    parent_name name;
    parent_owner regrole;
    key_column name;
    partition_name text;
    qualified text;
    template regclass;
BEGIN
    IF day IS NULL OR NOT day BETWEEN DATE '0001-01-01' AND DATE '9999-12-30' THEN
        RAISE EXCEPTION 'audit_events: day % is out of range: partitions hold days from '
                        '0001-01-01 to 9999-12-30', day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    existing := audit_events_partition_for_day(parent, day);
    IF existing IS NOT NULL THEN
        RETURN existing;
    END IF;
    SELECT n.nspname, c.relname, c.relowner::pg_catalog.regrole
    INTO parent_schema, parent_name, parent_owner
    FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = parent AND c.relkind = 'p';
    IF parent_name IS NULL THEN
        RAISE EXCEPTION 'audit_events: % is not a partitioned table', parent
            USING ERRCODE = 'wrong_object_type';
    END IF;
    IF NOT pg_catalog.pg_has_role(current_user, parent_owner, 'MEMBER') THEN
        RAISE EXCEPTION 'audit_events: role % may not create day tables of %', current_user, parent
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('Run maintenance as %s, the owner of %s.',
                                           parent_owner, parent);
    END IF;
    SELECT a.attname INTO key_column
    FROM pg_catalog.pg_partitioned_table AS pt
    JOIN pg_catalog.pg_attribute AS a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = parent;
    partition_name := audit_events_partition_name(parent_name::text, day);
    qualified := pg_catalog.format('%I.%I', parent_schema, partition_name);
    IF EXISTS (SELECT FROM pg_catalog.pg_inherits AS i
               WHERE i.inhrelid = pg_catalog.to_regclass(qualified) AND i.inhparent <> parent) THEN
        RETURN qualified::pg_catalog.regclass;
    END IF;
    IF pg_catalog.to_regclass(qualified) IS NULL THEN
        -- A parent without indexes (the archive on Citus) gives none on ATTACH:
        -- the day copies them from the table audit_events_index_template names.
        template := audit_events_index_template(parent);
        EXECUTE pg_catalog.format(
            'CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
            ' INCLUDING STORAGE INCLUDING COMMENTS%s)', qualified, template,
            CASE WHEN template = parent THEN '' ELSE ' INCLUDING INDEXES' END);
        EXECUTE pg_catalog.format(
            'ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)',
            qualified, pg_catalog.left(partition_name, 56) || '_bounds',
            key_column, lower_bound, key_column, upper_bound);
    END IF;
    IF (SELECT c.relowner FROM pg_catalog.pg_class AS c
        WHERE c.oid = pg_catalog.to_regclass(qualified)) <> parent_owner THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %s', qualified, parent_owner);
    END IF;
    EXECUTE pg_catalog.format('ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)',
                              parent, qualified, lower_bound, upper_bound);
    RETURN qualified::pg_catalog.regclass;
END
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where the functions it calls were installed with it), then pg_temp: the
-- caller's search_path and DateStyle/TimeZone change nothing. Objects of
-- pg_catalog are named with their schema so that no function of the same name
-- elsewhere can stand in for them.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_create_day_partition(regclass, date)';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

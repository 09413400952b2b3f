-- Purpose: the table whose indexes a new day table of PARENT must have:
-- PARENT itself (its partitioned indexes are built on the day by ATTACH), or,
-- when PARENT has no index of its own and is a Citus distributed table, the
-- live event table it is colocated with. On Citus the archive parent is kept
-- without indexes (audit_events.distribution, docs/scaling.md): an ATTACH to a
-- parent with indexes renames the new shards' indexes by visiting every index
-- of every partition on every worker, so its cost would grow with the archive.
-- Its days keep the indexes they had as live days; a day made directly in the
-- archive (the drain, a backfill) copies them from the live table (LIKE ...
-- INCLUDING INDEXES): the same key, the same lookup indexes.
--
-- The live table is the one partitioned table of PARENT's schema in PARENT's
-- colocation group that has indexes and exactly PARENT's columns; none or
-- several is an error that names PARENT.
CREATE OR REPLACE FUNCTION audit_events_index_template(parent regclass)
RETURNS regclass
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found regclass[];
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = parent)
       OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN parent;
    END IF;
    -- pg_dist_partition exists only with the citus extension: the query is built
    -- at run time so that the function installs on plain PostgreSQL too.
    EXECUTE $q$
        SELECT pg_catalog.array_agg(other.logicalrelid)
        FROM pg_catalog.pg_dist_partition AS mine
        JOIN pg_catalog.pg_dist_partition AS other
          ON other.colocationid = mine.colocationid AND other.logicalrelid <> mine.logicalrelid
        JOIN pg_catalog.pg_class AS c ON c.oid = other.logicalrelid AND c.relkind = 'p'
        JOIN pg_catalog.pg_class AS p ON p.oid = mine.logicalrelid
        WHERE mine.logicalrelid = $1
          AND c.relnamespace = p.relnamespace
          AND EXISTS (SELECT FROM pg_catalog.pg_index AS i WHERE i.indrelid = c.oid)
          AND (SELECT pg_catalog.array_agg(pg_catalog.format('%I %s', a.attname,
                                           a.atttypid::pg_catalog.regtype) ORDER BY a.attnum)
               FROM pg_catalog.pg_attribute AS a
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
              = (SELECT pg_catalog.array_agg(pg_catalog.format('%I %s', a.attname,
                                             a.atttypid::pg_catalog.regtype) ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute AS a
                 WHERE a.attrelid = p.oid AND a.attnum > 0 AND NOT a.attisdropped)
    $q$ INTO found USING parent;
    IF found IS NULL THEN
        RETURN parent;  -- not distributed, or nothing to copy: the day gets PARENT's (none)
    END IF;
    IF pg_catalog.cardinality(found) > 1 THEN
        RAISE EXCEPTION 'audit_events: % has no indexes, and several tables colocated with it '
                        'could give their indexes to its new days: %', parent, found
            USING ERRCODE = 'ambiguous_parameter',
                  HINT = 'Give the archive parent its indexes back, or keep one live table '
                         'with its columns in its colocation group.';
    END IF;
    RETURN found[1];
END
$$;

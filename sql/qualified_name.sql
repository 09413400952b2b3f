-- Purpose: the schema-qualified, quoted name of table REL ("schema"."name"), for
-- statements that run later in another session, whatever its search_path.
CREATE OR REPLACE FUNCTION audit_events_qualified_name(rel regclass)
RETURNS text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%I.%I', n.nspname, c.relname)
    FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE c.oid = rel
$$;

-- Purpose: the STATEMENTS of one maintenance step (ACTION) on the event table REL
-- as they must be sent. On plain PostgreSQL they are returned unchanged: each
-- runs in its own transaction (DETACH ... CONCURRENTLY refuses a transaction
-- block).
--
-- On Citus (REL distributed) a step other than analyze is wrapped in BEGIN ...
-- COMMIT, so that a day's DETACH and ATTACH commit together: a kill between them
-- cannot leave the day outside both tables. Its first statement, SET LOCAL
-- statement_timeout to the session's lock_timeout, bounds the waits on the
-- workers' shards: a lock_timeout set on the coordinator does not reach them
-- (a DDL statement waiting there queues every insert behind it for as long as
-- the blocker lasts), and a propagated SET LOCAL lock_timeout
-- (citus.propagate_set_commands) makes Citus DDL fail. Sequential mode (one
-- connection per worker): ATTACH run over several connections of one
-- transaction to the same worker was cancelled now and then as a "distributed
-- deadlock" under load. Each statement must be
-- sent on its own, as psql's \gexec does: Citus forwards a multi-statement
-- string to the workers and they refuse it. After an error, psql's \gexec runs
-- the remaining statements into the aborted transaction and COMMIT rolls it back.
CREATE OR REPLACE FUNCTION audit_events_step_statements(rel regclass, action text,
                                                        statements text[])
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN pg_catalog.cardinality(statements) = 0 OR action = 'analyze'
             OR NOT audit_events_is_distributed(rel) THEN statements
        ELSE ARRAY['BEGIN',
                   pg_catalog.format('SET LOCAL statement_timeout = %L',
                                     pg_catalog.current_setting('lock_timeout')),
                   'SET LOCAL citus.multi_shard_modify_mode = ''sequential''']
             || statements || ARRAY['COMMIT']
    END
$$;

-- search_path is pinned to pg_catalog, then the schema this function was created
-- in (where audit_events_is_distributed was installed with it), then pg_temp.
DO $pin$
DECLARE
    fn pg_catalog.regprocedure := 'audit_events_step_statements(regclass, text, text[])';
BEGIN
    EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, %s, pg_temp', fn,
        (SELECT p.pronamespace::pg_catalog.regnamespace FROM pg_catalog.pg_proc AS p
         WHERE p.oid = fn));
END
$pin$;

-- Purpose: the STATEMENTS of one maintenance step on the event table REL as they
-- must be sent. On plain PostgreSQL they are returned unchanged (each runs in its
-- own transaction: DETACH ... CONCURRENTLY refuses a transaction block).
--
-- On Citus (REL distributed) they are joined into ONE string. A string of
-- several statements sent as one simple query (psql's \gexec, the rotation)
-- runs as one implicit transaction: a day's DETACH and ATTACH commit together,
-- so a kill between them cannot leave the day outside both tables. It starts
-- with SET LOCAL citus.propagate_set_commands = 'local' and SET LOCAL
-- lock_timeout, so that the session's lock_timeout also bounds the waits on the
-- workers' shards: a lock_timeout set on the coordinator alone does not (a DDL
-- statement waiting on a worker queues every insert behind it, for as long as
-- the blocker lasts).
CREATE OR REPLACE FUNCTION audit_events_step_statements(rel regclass, statements text[])
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN cardinality(statements) = 0 OR NOT audit_events_is_distributed(rel) THEN statements
        ELSE ARRAY[format('SET LOCAL citus.propagate_set_commands = %L; '
                          'SET LOCAL lock_timeout = %L; %s',
                          'local', current_setting('lock_timeout'),
                          array_to_string(statements, '; '))]
    END
$$;

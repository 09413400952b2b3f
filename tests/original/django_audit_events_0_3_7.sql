-- The schema of django-audit-events 0.3.7, as its own migrations make it.
--
-- How it was made (tests/original/README.md): the sdist from PyPI
--   pip download --no-deps --no-binary :all: django-audit-events==0.3.7
-- unpacked on PYTHONPATH, INSTALLED_APPS = [contenttypes, auth, django_audit_events],
-- Django 5.2.19, PostgreSQL 15, then `django-admin sqlmigrate django_audit_events <name>`
-- for each of its six migrations (its `migrate` applied all six without error too).
-- Output kept verbatim; statements of one migration are separated by `-- migration` lines.
-- migration 0001_initial
BEGIN;
--
-- Create model AuditEvent
--
CREATE TABLE "django_audit_events_auditevent" ("uuid" uuid NOT NULL PRIMARY KEY, "timestamp" timestamp with time zone NOT NULL, "remote_addr" inet NULL, "url" varchar(200) NULL, "query_params" jsonb NULL, "post_data" jsonb NULL, "object_id" integer NOT NULL CHECK ("object_id" >= 0), "content" jsonb NOT NULL, "content_type_id" integer NOT NULL, "user_id" integer NULL);
ALTER TABLE "django_audit_events_auditevent" ADD CONSTRAINT "django_audit_events__content_type_id_ee6873f9_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "django_audit_events_auditevent" ADD CONSTRAINT "django_audit_events_auditevent_user_id_7e07a1df_fk_auth_user_id" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "django_audit_events_auditevent_content_type_id_ee6873f9" ON "django_audit_events_auditevent" ("content_type_id");
CREATE INDEX "django_audit_events_auditevent_user_id_7e07a1df" ON "django_audit_events_auditevent" ("user_id");
COMMIT;

-- migration 0002_archivedauditevent
BEGIN;
--
-- Create model ArchivedAuditEvent
--
CREATE TABLE "django_audit_events_archivedauditevent" ("uuid" uuid NOT NULL PRIMARY KEY, "remote_addr" inet NULL, "url" varchar(200) NULL, "query_params" jsonb NULL, "post_data" jsonb NULL, "object_id" integer NOT NULL CHECK ("object_id" >= 0), "content" jsonb NOT NULL, "timestamp" timestamp with time zone NOT NULL, "archive_timestamp" timestamp with time zone NOT NULL, "content_type_id" integer NOT NULL, "user_id" integer NULL);
ALTER TABLE "django_audit_events_archivedauditevent" ADD CONSTRAINT "django_audit_events__content_type_id_615f7f10_fk_django_co" FOREIGN KEY ("content_type_id") REFERENCES "django_content_type" ("id") DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE "django_audit_events_archivedauditevent" ADD CONSTRAINT "django_audit_events__user_id_2ba5b6cd_fk_auth_user" FOREIGN KEY ("user_id") REFERENCES "auth_user" ("id") DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX "django_audit_events_archivedauditevent_content_type_id_615f7f10" ON "django_audit_events_archivedauditevent" ("content_type_id");
CREATE INDEX "django_audit_events_archivedauditevent_user_id_2ba5b6cd" ON "django_audit_events_archivedauditevent" ("user_id");
COMMIT;

-- migration 0003_auto_20201218_1113
BEGIN;
--
-- Alter field url on archivedauditevent
--
ALTER TABLE "django_audit_events_archivedauditevent" ALTER COLUMN "url" TYPE varchar(256);
--
-- Alter field url on auditevent
--
ALTER TABLE "django_audit_events_auditevent" ALTER COLUMN "url" TYPE varchar(256);
COMMIT;

-- migration 0004_auto_20210127_2021
BEGIN;
--
-- Alter field url on archivedauditevent
--
ALTER TABLE "django_audit_events_archivedauditevent" ALTER COLUMN "url" TYPE varchar(1000);
--
-- Alter field url on auditevent
--
ALTER TABLE "django_audit_events_auditevent" ALTER COLUMN "url" TYPE varchar(1000);
COMMIT;

-- migration 0005_auto_20220215_0756
BEGIN;
--
-- Add field headers to archivedauditevent
--
ALTER TABLE "django_audit_events_archivedauditevent" ADD COLUMN "headers" jsonb DEFAULT '{}'::jsonb NULL;
ALTER TABLE "django_audit_events_archivedauditevent" ALTER COLUMN "headers" DROP DEFAULT;
--
-- Add field headers to auditevent
--
ALTER TABLE "django_audit_events_auditevent" ADD COLUMN "headers" jsonb DEFAULT '{}'::jsonb NULL;
ALTER TABLE "django_audit_events_auditevent" ALTER COLUMN "headers" DROP DEFAULT;
COMMIT;

-- migration 0006_auto_20220920_1327
--
-- Raw SQL operation
--
CREATE INDEX CONCURRENTLY IF NOT EXISTS "django_audit_events_auditevent_timestamp_0c865855_uniq" ON "django_audit_events_auditevent" ("timestamp");

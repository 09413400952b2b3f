#!/usr/bin/env python
# django-audit-events 0.3.7's runtests.py (MIT, see LICENSE.txt), adapted to run its suite,
# moved here as tests.original, against audit_events. Changes, all marked "audit_events:":
# the package name, the suite's new home, and the database (from AUDIT_ORIGINAL_DATABASE,
# JSON, as tests/test_original_suite.py passes it; the unused SQLite "other" is dropped).
# Migrations stay disabled, as in the original.

import json
import logging
import os
import sys
from os.path import abspath, dirname

import django
from django.conf import settings
from django.test.runner import DiscoverRunner

sys.path.insert(0, dirname(dirname(dirname(abspath(__file__)))))  # audit_events: repo root

installed_apps = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "django.contrib.messages",
    "audit_events",
    "tests.original",
    "tests.original.utils",
]


class DisableMigrations:
    def __contains__(self, item):
        return True

    def __getitem__(self, item):
        return None


DATABASE = {  # audit_events: the original's defaults, overridable
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "postgres",
    "USER": "postgres",
    "PASSWORD": "postgres",
    "HOST": "localhost",
    "PORT": "5432",
    **json.loads(os.environ.get("AUDIT_ORIGINAL_DATABASE", "{}")),
}

DEFAULT_SETTINGS = dict(
    SECRET_KEY="SECRET",
    ALLOWED_HOSTS=["localhost"],
    ROOT_URLCONF="tests.original.urls",
    INSTALLED_APPS=installed_apps,
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    DATABASES={"default": DATABASE},
    MIGRATION_MODULES=DisableMigrations(),
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
)
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "audit_events.middleware.AuditEventsMiddleware",
]
DEFAULT_SETTINGS["MIDDLEWARE"] = MIDDLEWARE


def main():
    if not settings.configured:
        settings.configure(**DEFAULT_SETTINGS)
    django.setup()
    failures = DiscoverRunner(failfast=False, verbosity=2).run_tests(["tests.original"])
    sys.exit(failures)


if __name__ == "__main__":
    logging.basicConfig()
    main()

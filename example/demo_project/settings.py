"""Settings of the audit_events demo project. Not for production use."""

import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = "demo-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "demo_project.urls"
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "audit_events",
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "audit_events.middleware.AuditEventsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}

# audit_events: capture query strings (secrets in them are masked) and the user agent.
AUDIT_INCLUDE_QUERY_PARAMS = True
AUDIT_INCLUDE_POST_DATA = True
AUDIT_INCLUDE_HEADERS = ["HTTP_USER_AGENT", "HTTP_AUTHORIZATION"]
AUDIT_ARCHIVE_AFTER_DAYS = 90
AUDIT_PARTITION_PREMAKE_DAYS = 14

# The demo prints its own account of what happens (e.g. the event it spools on
# purpose); the library's log lines would only repeat it, in raw form. Errors
# still show.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"errors": {"class": "logging.StreamHandler", "level": "ERROR"}},
    "loggers": {"audit_events": {"handlers": ["errors"], "level": "ERROR", "propagate": False}},
}
# The demo shows the spool (the safety net of a role without DDL rights): its old event waits
# for rotation instead of making its day on the spot.
AUDIT_CREATE_DAYS_ON_WRITE = False

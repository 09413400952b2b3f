"""Django settings for the benchmarks.

The database is filled in by ``bench.db.configure_django`` (a throwaway
database on the embedded server or on ``DATABASE_URL``). ``DEBUG`` stays off:
with it, Django keeps every query in memory and the write path would measure
that too.
"""

SECRET_KEY = "audit-events-bench-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
# The test client sends "testserver"; gunicorn (bench.http) is reached on the loopback.
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",  # the "reads" scenario times the admin's pages
    "rest_framework",  # and the REST API's
    "audit_events",
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
#: What every request goes through, with or without auditing.
BASE_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
AUDIT_MIDDLEWARE = "audit_events.middleware.AuditEventsMiddleware"
MIDDLEWARE = [*BASE_MIDDLEWARE, AUDIT_MIDDLEWARE]
# Persistent connections, as a site that cares about speed runs: a request
# does not pay a new connection (and a cold server session).
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": "unset", "CONN_MAX_AGE": 600}
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"audit_events": {"handlers": ["console"], "level": "WARNING"}},
}

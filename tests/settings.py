"""Django settings for the test suite (the database comes from conftest.py)."""

SECRET_KEY = "audit-events-tests-not-secret"
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",  # admin CSS/JS for the live-server browser test
    "audit_events",
    "tests.testapp",
    "tests.hostileapp",  # table names that try SQL injection (tests/test_injection.py)
    "rest_framework",  # the read API (audit_events.E010 asks for it when its URLs are used)
]
MIDDLEWARE = [
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
DATABASES = {
    # Host, port and user are filled in by conftest.py (embedded server or DATABASE_URL).
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": "audit_events"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The spool's own tests need days without a partition to stay so: the writer does
# not make them on the spot here; tests of that (tests/test_ondemand.py) turn it on.
AUDIT_CREATE_DAYS_ON_WRITE = False
# Days are sealed as soon as they end: tests that rotate expect yesterday sealed,
# whatever the time of day they run at (a 1-hour grace made them fail before 01:00 UTC).
# Tests of the grace itself override it.
AUDIT_SEAL_GRACE_HOURS = 0

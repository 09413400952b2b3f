"""The benchmark site for a real server (``bench.http``): gunicorn loads ``application``.

``AUDIT_BENCH_DATABASE_URL`` names the database; ``AUDIT_BENCH_NO_AUDIT=1``
removes the audit middleware (the same site without audit).
"""

import os

from django.core.wsgi import get_wsgi_application

from bench import db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
if os.environ.get("AUDIT_BENCH_NO_AUDIT") == "1":
    from django.conf import settings

    settings.MIDDLEWARE = settings.BASE_MIDDLEWARE
db.configure_django(os.environ["AUDIT_BENCH_DATABASE_URL"])
application = get_wsgi_application()

"""A URLconf without the read API (the audit_events.E010 check stays silent)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]

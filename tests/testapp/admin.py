"""Test app admin: Article links to its audit events."""

from django.contrib import admin

from audit_events.admin import AuditEventsLinkMixin
from tests.testapp.models import Article


@admin.register(Article)
class ArticleAdmin(AuditEventsLinkMixin, admin.ModelAdmin):
    pass

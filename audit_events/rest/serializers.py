"""How an event looks in the API (read-only, stored values as they are)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

__all__ = ["ArchivedAuditEventSerializer", "AuditEventSerializer"]


@extend_schema_field(
    {"nullable": True, "description": "The user's id (the user model's primary key), or null."}
)
class _UserIdField(serializers.ReadOnlyField):
    """The user id as stored: its type is the user model's primary key."""


class AuditEventSerializer(serializers.Serializer):
    """One event. ``content_type`` is ``"app_label.model"``; the object is not loaded.

    Masked values (passwords, tokens, credentials headers) were masked before the
    event was stored and are returned masked.
    """

    id = serializers.UUIDField(read_only=True)
    timestamp = serializers.DateTimeField(read_only=True)
    user = _UserIdField(source="user_id")
    username = serializers.CharField(read_only=True)
    remote_addr = serializers.CharField(read_only=True, allow_null=True)
    url = serializers.CharField(read_only=True)
    content_type = serializers.SerializerMethodField()
    content_type_id = serializers.IntegerField(read_only=True)
    object_id = serializers.CharField(read_only=True)
    query_params = serializers.JSONField(read_only=True)
    post_data = serializers.JSONField(read_only=True)
    headers = serializers.JSONField(read_only=True)
    content = serializers.JSONField(read_only=True)

    def get_content_type(self, obj: Any) -> str:
        # content_type is joined by the view's queryset: no query per row.
        return f"{obj.content_type.app_label}.{obj.content_type.model}"


class ArchivedAuditEventSerializer(AuditEventSerializer):
    """An archived event, with the time its day was archived."""

    archive_timestamp = serializers.DateTimeField(read_only=True)

"""Settings and the event model are looked up once, and again after a change.

``audit_events.conf`` keeps each validated value, and ``get_audit_event_model``
each model found, until Django's ``setting_changed`` says otherwise: a test
that changes a setting must see the new value, and an invalid one must keep
being refused.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from audit_events.conf import settings
from audit_events.models import ArchivedAuditEvent, AuditEvent, get_audit_event_model


def test_a_setting_follows_override_settings_in_and_out():
    assert settings.AUDIT_MASK_VALUE == "********"
    with override_settings(AUDIT_MASK_VALUE="[hidden]"):
        assert settings.AUDIT_MASK_VALUE == "[hidden]"
    assert settings.AUDIT_MASK_VALUE == "********"


def test_an_invalid_value_is_refused_on_every_read():
    with override_settings(AUDIT_MAX_BODY_SIZE=-1):
        for _ in range(2):
            with pytest.raises(ImproperlyConfigured, match="AUDIT_MAX_BODY_SIZE"):
                getattr(settings, "AUDIT_MAX_BODY_SIZE")  # noqa: B009 (the read is the test)
    assert settings.AUDIT_MAX_BODY_SIZE == 64 * 1024


def test_the_event_model_follows_its_setting():
    assert get_audit_event_model() is AuditEvent
    with override_settings(AUDIT_EVENT_MODEL="audit_events.ArchivedAuditEvent"):
        assert get_audit_event_model() is ArchivedAuditEvent
    assert get_audit_event_model() is AuditEvent


def test_the_event_model_is_looked_up_again_when_the_apps_change():
    assert get_audit_event_model() is AuditEvent
    without = [app for app in django_settings.INSTALLED_APPS if app != "audit_events"]
    with (
        override_settings(INSTALLED_APPS=without),
        pytest.raises(ImproperlyConfigured, match="has not been installed"),
    ):
        get_audit_event_model()
    assert get_audit_event_model() is AuditEvent

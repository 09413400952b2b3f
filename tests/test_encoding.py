"""AuditJSONEncoder: Django types, errors naming the key, text PostgreSQL jsonb accepts."""

import datetime
import decimal
import json
import uuid

import pytest
from django.utils.translation import gettext_lazy

from audit_events.context import AuditContext
from audit_events.encoding import AuditJSONEncoder, check_encodable, clean_text
from audit_events.models import AuditEvent
from tests.testapp.models import Article


def _dumps(value):
    return json.dumps(value, cls=AuditJSONEncoder)


def test_dates_decimals_uuids_and_lazy_strings_encode():
    value = {
        "d": datetime.date(2024, 1, 2),
        "n": decimal.Decimal("1.10"),
        "u": uuid.UUID(int=1),
        "t": gettext_lazy("hello"),
    }
    assert json.loads(_dumps(value)) == {
        "d": "2024-01-02",
        "n": "1.10",
        "u": "00000000-0000-0000-0000-000000000001",
        "t": "hello",
    }


def test_nul_escape_becomes_replacement_character():
    assert json.loads(_dumps({"a\x00": "b\x00c"})) == {"a\ufffd": "b\ufffdc"}


def test_backslash_followed_by_u0000_text_is_kept():
    """User text '\\u0000' (a backslash then 'u0000') is not a NUL and must survive."""
    assert json.loads(_dumps("\\u0000 and \\\x00")) == "\\u0000 and \\\ufffd"


def test_lone_surrogates_become_replacement_characters():
    assert json.loads(_dumps(["\ud800", "x\udfffy"])) == ["\ufffd", "x\ufffdy"]


def test_characters_outside_the_bmp_are_kept():
    assert json.loads(_dumps("smile \U0001f600")) == "smile \U0001f600"


def test_unencodable_value_raises_type_error_naming_its_path():
    with pytest.raises(TypeError, match=r"'a\.b\[0\]'"):
        check_encodable({"a": {"b": [object()]}})


def test_unencodable_key_is_named():
    with pytest.raises(TypeError, match=r"\(1, 2\)"):
        check_encodable({(1, 2): "tuple key"})


def test_clean_text_replaces_nul_and_surrogates():
    assert clean_text("a\x00b\ud800") == "a\ufffdb\ufffd"
    assert clean_text("plain") == "plain"


@pytest.mark.django_db
def test_stored_content_round_trips_through_jsonb():
    article = Article.objects.create(title="t")
    content = {
        "nul": "a\x00b",
        "escaped": "\\u0000",
        "emoji": "\U0001f600",
        "surrogate": "\udc80",
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    }
    event = AuditContext().create_event(article, **content)
    assert AuditEvent.objects.get(pk=event.pk).content == {
        "nul": "a\ufffdb",
        "escaped": "\\u0000",
        "emoji": "\U0001f600",
        "surrogate": "\ufffd",
        "when": "2024-01-02T03:04:05Z",
    }

"""Hostile input, property-based: every event is stored faithfully or refused cleanly.

Each example runs in a savepoint that is rolled back, so examples do not see
each other's events. ``AUDIT_HYPOTHESIS_EXAMPLES`` sets the number of examples
per property (default 50, what CI runs); raise it for a longer hunt::

    AUDIT_HYPOTHESIS_EXAMPLES=2000 python -m pytest tests/test_hostile_input.py
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
from contextlib import contextmanager
from urllib.parse import quote, urlencode

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from audit_events.context import AuditContext
from audit_events.encoding import AuditJSONEncoder
from audit_events.models import AuditEvent
from audit_events.partitions import FIRST_DAY, LAST_DAY
from audit_events.spool import spool_table
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("AUDIT_HYPOTHESIS_EXAMPLES", "50"))
hunt = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back():
    """One example: everything it writes is rolled back (a savepoint)."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def query(statement: str, params=()) -> object:
    """Run ``statement`` ({live} and {spool} filled in as identifiers); one value."""
    composed = sql.SQL(statement).format(
        live=sql.Identifier(AuditEvent._meta.db_table),
        spool=sql.Identifier(spool_table(AuditEvent)),
    )
    with connection.cursor() as cursor:
        cursor.execute(composed.as_string(connection.connection), params)
        row = cursor.fetchone()
        return row[0] if row else None


def stored_timestamp(pk) -> datetime.datetime:
    """The event's timestamp as stored: in the live table, or in the spool."""
    return query(
        "SELECT timestamp FROM {live} WHERE id = %s UNION ALL "
        "SELECT (jsonb_populate_record(NULL::{live}, row)).timestamp FROM {spool} "
        "WHERE id = %s",
        [pk, pk],
    )


def stored_rows() -> int:
    return int(query("SELECT (SELECT count(*) FROM {live}) + (SELECT count(*) FROM {spool})"))


def every_stored_text() -> str:
    """Every column of every stored event (live and spool), as text."""
    return str(
        query(
            "SELECT coalesce(string_agg(to_jsonb(e)::text, ' '), '') "
            "|| coalesce((SELECT string_agg(s.row::text, ' ') FROM {spool} AS s), '') "
            "FROM {live} AS e"
        )
    )


# --- Strategies -------------------------------------------------------------------------

FRAKTUR = "\U0001d518\U0001d52b\U0001d526"  # "Uni" in mathematical Fraktur letters
text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "\\u0000", "'; DROP TABLE x; --", "\u202e", FRAKTUR, "\ufffd"]
)
# What a client can put on the wire as form fields (the test client encodes
# them as UTF-8, so no lone surrogates; undecodable bytes come via raw bodies).
wire_text = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["\x00", "a\x00b", "\\u0000", "'; DROP TABLE x; --", "\u202e", FRAKTUR, "%00", "%ff"]
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)
huge = st.sampled_from(["x" * 200_000, "é" * 100_000, "\x00" * 10_000])
django_types = (
    st.datetimes(timezones=st.just(datetime.UTC))
    | st.dates()
    | st.times()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.uuids()
)
content_values = json_values | django_types | huge
not_json = st.sampled_from([{1, 2}, b"bytes", object(), complex(1, 2), frozenset(), Article])
keyword = st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True).filter(
    lambda k: k not in {"content_object"}
)


def as_json(value):
    """``value`` as the encoder writes it, numbers read as decimals.

    jsonb keeps numbers as decimal ``numeric``: 4.646909175459317e+16 comes back
    as the integer 46469091754593170, the same JSON number. Comparing decimals
    compares the numbers, not their Python types.
    """
    return json.loads(
        json.dumps(value, cls=AuditJSONEncoder),
        parse_float=decimal.Decimal,
        parse_int=decimal.Decimal,
    )


# --- Content --------------------------------------------------------------------------


@hunt
@given(content=st.dictionaries(keyword, content_values, max_size=5))
def test_any_encodable_content_is_stored_faithfully(content):
    article = Article.objects.get_or_create(title="hostile")[0]
    with rolled_back():
        event = AuditContext().create_event(article, **content)
        stored = AuditEvent.objects.get(pk=event.pk)
        assert as_json(stored.content) == as_json(content)


@hunt
@given(content=st.dictionaries(keyword, content_values, max_size=3), bad=not_json, key=keyword)
def test_unencodable_content_is_refused_before_anything_is_written(content, bad, key):
    article = Article.objects.get_or_create(title="hostile")[0]
    before = stored_rows()
    with rolled_back():
        with pytest.raises(TypeError, match="not JSON serializable"):
            AuditContext().create_event(article, **{**content, key: {"nested": [bad]}})
        assert stored_rows() == before


@hunt
@given(value=st.sampled_from([float("nan"), float("inf"), float("-inf")]))
def test_non_finite_numbers_are_refused_or_stored_but_never_crash_the_database(value):
    """JSON has no NaN or Infinity, and PostgreSQL's jsonb refuses them."""
    article = Article.objects.get_or_create(title="hostile")[0]
    before = stored_rows()
    with rolled_back():
        try:
            event = AuditContext().create_event(article, number=value)
        except (TypeError, ValueError) as exc:
            assert "number" in str(exc)
            assert stored_rows() == before
        else:
            assert AuditEvent.objects.get(pk=event.pk).content["number"] in (None, str(value))


# --- Timestamps -------------------------------------------------------------------------


def in_partition_range(when: datetime.datetime) -> bool:
    try:
        day = when.astimezone(datetime.UTC).date()
    except OverflowError:
        return False
    return FIRST_DAY <= day <= LAST_DAY


@hunt
@given(
    when=st.datetimes(
        min_value=datetime.datetime(1, 1, 1),
        timezones=st.none() | st.just(datetime.UTC) | st.timezones(),
    )
)
def test_any_timestamp_is_stored_or_refused_cleanly(when):
    """Year 1 to 9999, naive or in any time zone: stored exactly, or a clear error."""
    article = Article.objects.get_or_create(title="hostile")[0]
    before = stored_rows()
    with rolled_back():
        event = AuditEvent(content_object=article, timestamp=when)
        if when.tzinfo is None:
            # Django warns about a naive datetime (filterwarnings=error makes it raise):
            # the event is refused before anything is written.
            with pytest.raises(RuntimeWarning, match="naive datetime"):
                event.save()
            assert stored_rows() == before
            return
        if not in_partition_range(when):
            # No partition can hold that day (its bounds would pass year 9999).
            with pytest.raises(ValueError, match="out of range"):
                event.save()
            assert stored_rows() == before
            return
        event.save()
        # Compared in UTC: Python never finds an inter-zone == true for a time in a DST
        # gap or fold (PEP 495), though both name the same instant.
        assert stored_timestamp(event.pk) == when.astimezone(datetime.UTC)


# --- Requests through the middleware -------------------------------------------------------

SECRET = "S3CRET-d0-not-st0re"
secret_fields = st.sampled_from(
    [
        "password",
        "Password",
        "PASSWORD",
        "new_password",
        "passwd",
        "api_key",
        "access_token",
        "token",
        "secret",
        "client_secret",
        "authorization",
        "csrfmiddlewaretoken",
        "sessionid",
    ]
)
header_value = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
forwarded_for = st.one_of(
    header_value,
    st.lists(st.ip_addresses().map(str) | header_value, max_size=5).map(", ".join),
    st.sampled_from(
        [
            "",
            ",,,",
            "unknown",
            "::1, 999.1.1.1",
            "1.2.3.4:80",
            "[::1]:443",
            "fe80::1%eth0",
            "0x7f.1",
            "127.0.0.1 , 10.0.0.1",
            "a" * 5000,
        ]
    ),
)


def capture_everything():
    return override_settings(
        AUDIT_INCLUDE_QUERY_PARAMS=True,
        AUDIT_INCLUDE_POST_DATA=True,
        AUDIT_INCLUDE_HEADERS=[
            "HTTP_USER_AGENT",
            "HTTP_X_CUSTOM",
            "HTTP_AUTHORIZATION",
            "HTTP_COOKIE",
            "HTTP_X_API_KEY",
            "HTTP_X_FORWARDED_FOR",
        ],
        AUDIT_TRUSTED_PROXIES=["127.0.0.1/32"],
    )


def secret_headers() -> dict[str, str]:
    return {
        "HTTP_AUTHORIZATION": f"Bearer {SECRET}",
        "HTTP_COOKIE": f"sessionid={SECRET}",
        "HTTP_X_API_KEY": SECRET,
    }


@hunt
@given(
    query=st.lists(st.tuples(text, text), max_size=6),
    form=st.dictionaries(wire_text, wire_text, max_size=6),
    secret_field=secret_fields,
    user_agent=header_value,
    custom=header_value,
    xff=forwarded_for,
)
def test_form_requests_never_fail_and_never_store_secrets(
    query, form, secret_field, user_agent, custom, xff
):
    form = {**{k.replace("\x00", ""): v for k, v in form.items()}, secret_field: SECRET}
    query = [*query, (secret_field, SECRET)]
    client = Client()
    with capture_everything(), rolled_back():
        response = client.post(
            "/record/?" + urlencode(query, encoding="utf-8", errors="surrogatepass"),
            data=form,
            HTTP_USER_AGENT=user_agent,
            HTTP_X_CUSTOM=custom,
            HTTP_X_FORWARDED_FOR=xff,
            **secret_headers(),
        )
        assert response.status_code == 200
        assert AuditEvent.objects.filter(pk=response.json()["event"]).exists()
        assert SECRET not in every_stored_text()


@hunt
@given(body=json_values, secret_field=secret_fields)
def test_json_bodies_never_fail_and_never_store_secrets(body, secret_field):
    payload = {"data": body, secret_field: SECRET, "nested": {secret_field: SECRET}}
    client = Client()
    with capture_everything(), rolled_back():
        response = client.post(
            "/record/body/",
            data=json.dumps(payload),
            content_type="application/json",
            **secret_headers(),
        )
        assert response.status_code == 200
        assert SECRET not in every_stored_text()


@hunt
@given(
    raw=st.binary(max_size=200)
    | st.sampled_from(
        [
            b'{"a": NaN, "b": [Infinity, -Infinity]}',
            b'{"a": 1e999}',
            b'{"\\u0000": "\\ud800"}',
            b"[" * 5000,
            b'{"a": "\x00"}',
        ]
    ),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded; charset=latin-1",
        ]
    ),
)
def test_malformed_bodies_never_turn_into_a_server_error(raw, content_type):
    client = Client()
    with capture_everything(), rolled_back():
        response = client.generic("POST", "/record/", raw, content_type=content_type)
        assert response.status_code == 200
        assert AuditEvent.objects.filter(pk=response.json()["event"]).exists()


@hunt
@given(path=st.text(st.characters(codec="utf-8", exclude_characters="?#"), max_size=60))
def test_hostile_paths_are_recorded_without_error(path):
    client = Client()
    with capture_everything(), rolled_back():
        # The hostile text is the URL path itself (percent-encoded, as a client sends it).
        url = "/record-any/" + quote(path, safe="/;,=&+$!*'()@:~")
        response = client.get(url, {"token": SECRET})
        assert response.status_code == 200
        stored = AuditEvent.objects.get(pk=response.json()["event"])
        assert stored.url.startswith("http")
        assert SECRET not in every_stored_text()


def test_the_secret_scan_would_see_a_leak():
    """Guard against a vacuous scan: a secret stored on purpose is found."""
    article = Article.objects.get_or_create(title="hostile")[0]
    AuditContext().create_event(article, note=SECRET)
    assert SECRET in every_stored_text()

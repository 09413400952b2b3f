"""Masking that follows the shape of real secrets (issue 11, item 7): secret words in any naming
convention, name/value pairs, GraphQL arguments and variables, credential headers, nested values
of field events; and a list of ordinary names that stay in clear."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.test import RequestFactory, override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_events.capture import capture_headers, capture_url, is_sensitive, mask_json
from audit_events.models import AuditEvent
from audit_events.secret_names import words

MASK = "********"
CAPTURE_ALL = {"AUDIT_INCLUDE_QUERY_PARAMS": True, "AUDIT_INCLUDE_POST_DATA": True}

#: Names that hold secrets (docs/configuration.md, "Secret names").
SECRET_NAMES = [
    "pass",
    "passphrase",
    "pw",
    "access_key",
    "accessKey",
    "auth_key",
    "authentication",
    "otp_code",
    "mfa_code",
    "totp",
    "verification_code",
    "pin_code",
    "cvv2",
    "security_code",
    "cc_number",
    "credit_card",
    "creditCardNumber",
    "session",
    "sid",
    "PHPSESSID",
    "JSESSIONID",
    "ASP.NET_SessionId",
    "subscription-key",
    "session_key",
    "sessionKey",
    "user_pass",
    "password_confirmation",
    "newPassword2",
    "refresh_token",
    "X-Session",
    "private_key",
    "recovery_code",
    "card_pin",
    "ACCESSKEY",
    "otpcode",
]
#: Ordinary names that must stay in clear (docs/configuration.md keeps the same list).
ORDINARY_NAMES = [
    "passenger",
    "compass",
    "bypass",
    "session_count",
    "session_timeout",
    "keyboard",
    "monkey",
    "author",
    "authority",
    "auth_method",
    "pinned",
    "shipping",
    "sidebar",
    "description",
    "zip_code",
    "postal_code",
    "country_code",
    "status_code",
    "phone_number",
    "page_number",
    "user_id",
    "sort_key",
    "public_key",
    "idempotency_key",
    "title",
    "username",
    "email",
    "signup",
    "pass_count",
    "mfa_enabled",
    "zipcode",
    "turnkey",
    "hockey",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_masked_in_every_convention(name):
    assert is_sensitive(name)
    assert is_sensitive(name.upper())
    assert is_sensitive(name.lower().replace("_", "-"))


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_ordinary_names_stay_in_clear(name):
    assert not is_sensitive(name)
    assert not is_sensitive(name.upper())


def test_words_follow_separators_camel_case_and_digits():
    assert words("X-Access-Key") == ("x", "access", "key")
    assert words("accessKey2") == ("access", "key")
    assert words("XMLHttpRequest") == ("xml", "http", "request")
    assert words("user[password]") == ("user", "password")
    assert words("PHPSESSID") == ("phpsessid",)


@given(
    prefix=st.sampled_from(["", "user", "new", "X", "client", "my"]),
    secret=st.sampled_from(["password", "token", "secret", "passphrase", "api_key", "otp_code"]),
    style=st.sampled_from(["snake", "kebab", "camel", "upper", "dotted"]),
)
@settings(max_examples=60, deadline=None)
def test_any_convention_of_a_secret_name_is_masked(prefix, secret, style):
    parts = [p for p in (prefix, *secret.split("_")) if p]
    name = {
        "snake": "_".join(parts),
        "kebab": "-".join(parts),
        "camel": parts[0].lower() + "".join(p.capitalize() for p in parts[1:]),
        "upper": "_".join(parts).upper(),
        "dotted": ".".join(parts),
    }[style]
    assert is_sensitive(name), name


def test_name_value_pairs_are_masked():
    data = [
        {"name": "password", "value": "hunter2"},
        {"name": "title", "value": "kept"},
        {"Name": "X-Api-Key", "Value": "k1"},
        {"key": "session", "value": "abc"},
    ]
    assert mask_json(data) == [
        {"name": "password", "value": MASK},
        {"name": "title", "value": "kept"},
        {"Name": "X-Api-Key", "Value": MASK},
        {"key": MASK, "value": MASK},  # "key" is itself a secret name
    ]


@override_settings(**CAPTURE_ALL)
@pytest.mark.django_db
def test_graphql_inline_arguments_and_variables_are_masked(client):
    document = (
        "mutation Login($secretVar: String!, $who: String!) {"
        ' login(username: $who, password: "hunter2", otp: 123456, pin: $secretVar,'
        ' note: """keep""") { token } }'
    )
    body = {"query": document, "variables": {"secretVar": "4321", "who": "bob"}}
    client.post("/record/", body, content_type="application/json")
    stored = AuditEvent.objects.get().post_data
    assert "hunter2" not in stored["query"] and "123456" not in stored["query"]
    assert f'password: "{MASK}"' in stored["query"]
    assert 'note: """keep"""' in stored["query"]
    assert stored["variables"] == {"secretVar": MASK, "who": "bob"}


@pytest.mark.django_db
def test_graphql_over_get_is_masked_in_query_params_and_url(client):
    document = '{ user(token: "T0KEN", id: 5) { name } }'
    with override_settings(**CAPTURE_ALL):
        client.get("/record/", {"query": document})
    event = AuditEvent.objects.get()
    assert "T0KEN" not in event.query_params["query"] and "id: 5" in event.query_params["query"]
    assert "T0KEN" not in event.url
    assert quote("id: 5", safe="") in event.url or "id%3A+5" in event.url


@pytest.mark.parametrize(
    "header",
    [
        "X-Auth",
        "Authentication",
        "Ocp-Apim-Subscription-Key",
        "X-Access-Key",
        "X-Session",
        "Cookie2",
        "X-Forwarded-Cookie",
    ],
)
def test_credential_headers_are_masked(header):
    meta = "HTTP_" + header.upper().replace("-", "_")
    with override_settings(AUDIT_INCLUDE_HEADERS=[header]):
        stored = capture_headers(RequestFactory().get("/", **{meta: "s3cr3t"}))
    assert list(stored.values()) == [MASK]


@override_settings(AUDIT_INCLUDE_HEADERS=["X-Original-URL", "X-Request-Id"])
def test_query_string_of_x_original_url_is_masked():
    request = RequestFactory().get(
        "/", HTTP_X_ORIGINAL_URL="/reset?token=ORIGSECRET&next=/home", HTTP_X_REQUEST_ID="r1"
    )
    stored = capture_headers(request)
    assert "ORIGSECRET" not in stored["X-Original-Url"]
    assert "next=/home" in stored["X-Original-Url"]
    assert stored["X-Request-Id"] == "r1"


def test_secret_query_parameters_are_masked_in_the_url():
    request = RequestFactory().get(
        "/x/", {"PHPSESSID": "s1", "subscription-key": "s2", "cc_number": "4111", "page": "2"}
    )
    url = capture_url(request)
    assert not any(secret in url for secret in ("s1", "s2", "4111"))
    assert "page=2" in url


@pytest.mark.django_db
def test_fields_event_masks_secrets_nested_in_a_field():
    from django.contrib.auth import get_user_model

    from audit_events import AuditContext

    user = get_user_model().objects.create_user("bob")
    user.first_name = {"api_key": "AKIA123", "label": "kept", "nested": [{"session": "x"}]}
    event = AuditContext().create_fields_event(user, "username", "first_name")
    stored = AuditEvent.objects.get(pk=event.pk).content
    assert stored == {
        "username": "bob",
        "first_name": {"api_key": MASK, "label": "kept", "nested": [{"session": MASK}]},
    }
    assert "AKIA123" not in json.dumps(stored)

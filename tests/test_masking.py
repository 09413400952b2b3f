"""Secrets never reach the table: POST fields, query string, URL, JSON bodies, headers."""

import json

import pytest
from django.test import RequestFactory, override_settings

from audit_events.capture import capture_headers, capture_post_data, capture_url, is_sensitive
from audit_events.models import AuditEvent

pytestmark = pytest.mark.django_db

MASK = "********"
CAPTURE_ALL = {"AUDIT_INCLUDE_QUERY_PARAMS": True, "AUDIT_INCLUDE_POST_DATA": True}


def _event():
    return AuditEvent.objects.get()


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "Password",
        "PASSWORD",
        "new_password1",
        "user[password]",
        "old-password",
        "access_token",
        "apiKey",
        "X-Api-Key",
        "client_secret",
        "csrfmiddlewaretoken",
    ],
)
def test_sensitive_names_match_case_insensitively_inside_longer_names(name):
    assert is_sensitive(name)


@pytest.mark.parametrize("name", ["title", "author", "username", "page", "email"])
def test_ordinary_names_are_not_sensitive(name):
    assert not is_sensitive(name)


@override_settings(**CAPTURE_ALL)
def test_post_fields_are_masked_case_insensitively(client):
    client.post(
        "/record/",
        {"username": "bob", "Password": "hunter2", "new_password1": "a", "new_password2": "a"},
    )
    assert _event().post_data == {
        "username": "bob",
        "Password": MASK,
        "new_password1": MASK,
        "new_password2": MASK,
    }


@override_settings(**CAPTURE_ALL, AUDIT_MASK_POST_FIELDS=("card_number",))
def test_configured_post_fields_are_masked(client):
    client.post("/record/", {"Card_Number": "4111", "name": "x"})
    assert _event().post_data == {"Card_Number": MASK, "name": "x"}


@override_settings(**CAPTURE_ALL)
def test_multi_valued_fields_keep_all_values(client):
    client.post("/record/?tag=a&tag=b&one=1", {"choice": ["x", "y"], "password": ["p", "q"]})
    event = _event()
    assert event.query_params == {"tag": ["a", "b"], "one": "1"}
    assert event.post_data == {"choice": ["x", "y"], "password": [MASK, MASK]}


@override_settings(**CAPTURE_ALL)
def test_query_params_are_masked_in_query_params_and_url(client):
    client.get("/record/?page=2&Access_Token=abc123&api_key=zzz&q=a+b%20c")
    event = _event()
    assert event.query_params == {"page": "2", "Access_Token": MASK, "api_key": MASK, "q": "a b c"}
    assert (
        event.url == f"http://testserver/record/?page=2&Access_Token={MASK}&api_key={MASK}"
        "&q=a+b%20c"
    )
    assert "abc123" not in event.url and "zzz" not in event.url


def test_url_is_masked_even_when_query_params_are_not_captured(client):
    client.get("/record/?token=abc123")
    event = _event()
    assert event.url == f"http://testserver/record/?token={MASK}"
    assert event.query_params == {}


def test_percent_encoded_parameter_names_are_masked():
    request = RequestFactory().get("/x/?pass%77ord=abc&%70assword=def")
    assert capture_url(request) == f"http://testserver/x/?pass%77ord={MASK}&%70assword={MASK}"


@override_settings(**CAPTURE_ALL)
def test_json_body_keys_are_masked_at_any_depth(client):
    body = {"user": {"name": "bob", "PASSWORD": "x"}, "items": [{"token": "t", "n": 1}]}
    client.post("/record/", body, content_type="application/json")
    assert _event().post_data == {
        "user": {"name": "bob", "PASSWORD": MASK},
        "items": [{"token": MASK, "n": 1}],
    }


@override_settings(**CAPTURE_ALL)
def test_json_array_body_is_stored_under_json_key(client):
    client.post("/record/", [{"secret": 1}], content_type="application/json")
    assert _event().post_data == {"_json": [{"secret": MASK}]}


@override_settings(**CAPTURE_ALL)
def test_vendor_json_content_type_is_captured(client):
    client.post("/record/", {"a": 1}, content_type="application/vnd.api+json")
    assert _event().post_data == {"a": 1}


@override_settings(**CAPTURE_ALL)
def test_invalid_json_body_is_omitted(client):
    client.post("/record/", "{not json", content_type="application/json")
    assert _event().post_data == {"_omitted": {"reason": "invalid JSON"}}


@override_settings(**CAPTURE_ALL)
def test_bodies_that_cannot_be_masked_are_not_captured(client):
    client.post("/record/", "<password>x</password>", content_type="application/xml")
    assert _event().post_data == {}


def test_post_data_is_not_captured_by_default(client):
    client.post("/record/", {"title": "x"})
    assert _event().post_data == {}


@override_settings(**CAPTURE_ALL, AUDIT_MAX_BODY_SIZE=100)
def test_body_over_the_size_limit_is_omitted(client):
    response = client.post("/record/body/", {"blob": "x" * 500}, content_type="application/json")
    assert response.json()["echo"] == {"blob": "x" * 500}
    size = len(json.dumps({"blob": "x" * 500}))
    assert _event().post_data == {"_omitted": {"reason": "too large", "size": size, "limit": 100}}


@override_settings(**CAPTURE_ALL)
def test_body_of_unknown_size_is_omitted():
    request = RequestFactory().post("/", "{}", content_type="application/json")
    del request.META["CONTENT_LENGTH"]
    assert capture_post_data(request) == {"_omitted": {"reason": "unknown size"}}


@override_settings(
    AUDIT_INCLUDE_HEADERS=[
        "HTTP_X_REQUEST_ID",
        "HTTP_AUTHORIZATION",
        "HTTP_COOKIE",
        "HTTP_PROXY_AUTHORIZATION",
    ]
)
def test_credential_headers_are_masked_even_when_included(client):
    client.cookies["sessionid"] = "s3cr3t"
    client.get(
        "/record/",
        HTTP_X_REQUEST_ID="req-1",
        HTTP_AUTHORIZATION="Bearer abc",
        HTTP_PROXY_AUTHORIZATION="Basic xyz",
    )
    assert _event().headers == {
        "X-Request-Id": "req-1",
        "Authorization": MASK,
        "Cookie": MASK,
        "Proxy-Authorization": MASK,
    }


@override_settings(
    AUDIT_INCLUDE_HEADERS=["HTTP_AUTHORIZATION", "http_x_custom_token"],
    AUDIT_ALLOW_SENSITIVE_HEADERS=["HTTP_AUTHORIZATION"],
)
def test_allowed_sensitive_headers_are_stored(client):
    client.get("/record/", HTTP_AUTHORIZATION="Bearer abc", HTTP_X_CUSTOM_TOKEN="t")
    assert _event().headers == {"Authorization": "Bearer abc", "X-Custom-Token": MASK}


@override_settings(AUDIT_INCLUDE_HEADERS=["X-Request-ID", "content-type", "HTTP_X_ABSENT"])
def test_header_names_may_be_given_as_http_names():
    request = RequestFactory().post(
        "/", "{}", content_type="application/json", HTTP_X_REQUEST_ID="r"
    )
    assert capture_headers(request) == {"X-Request-Id": "r", "Content-Type": "application/json"}


def test_headers_are_not_captured_by_default(client):
    client.get("/record/", HTTP_X_REQUEST_ID="r")
    assert _event().headers == {}


@override_settings(**CAPTURE_ALL, AUDIT_MASK_VALUE="[hidden]")
def test_mask_value_is_configurable(client):
    client.post("/record/?password=x", {"password": "y"})
    event = _event()
    assert event.post_data == {"password": "[hidden]"}
    assert event.query_params == {"password": "[hidden]"}
    assert event.url.endswith("?password=%5Bhidden%5D")


@override_settings(**CAPTURE_ALL, AUDIT_INCLUDE_HEADERS=["HTTP_X_NOTE"])
def test_nul_in_query_form_and_header_does_not_fail_the_request(client):
    response = client.post("/record/?q=a%00b", {"f": "c\x00d"}, HTTP_X_NOTE="e\x00f")
    assert response.status_code == 200
    event = _event()
    assert event.query_params == {"q": "a\ufffdb"}
    assert event.post_data == {"f": "c\ufffdd"}
    assert event.headers == {"X-Note": "e\ufffdf"}
    assert event.url == "http://testserver/record/?q=a%00b"


def test_very_long_request_url_is_stored_whole(client):
    query = "q=" + "x" * 60_000
    client.get(f"/record/?{query}")
    assert _event().url == f"http://testserver/record/?{query}"


def test_disallowed_host_stores_url_from_the_path_on(caplog):
    request = RequestFactory().get("/x/?token=abc&a=1", HTTP_HOST="evil.example")
    assert capture_url(request) == f"/x/?token={MASK}&a=1"
    assert "host not usable" in caplog.text


# --- Review findings: short names, common secret parameters, field events ----------


@pytest.mark.parametrize("name", ["code", "key", "sig", "jwt", "otp", "pin", "pwd", "auth"])
def test_short_secret_names_are_masked_as_whole_names(name):
    assert is_sensitive(name)
    assert is_sensitive(name.upper())


@pytest.mark.parametrize("name", ["monkey", "shipping", "zipcode", "author", "signup"])
def test_short_secret_names_do_not_mask_longer_harmless_names(name):
    assert not is_sensitive(name)


def test_oauth_code_and_api_key_are_masked_in_the_url():
    request = RequestFactory().get(
        "/oauth/callback", {"code": "SECRETCODE", "key": "AIzaX", "state": "ok"}
    )
    url = capture_url(request)
    assert "SECRETCODE" not in url and "AIzaX" not in url
    assert "state=ok" in url


@pytest.mark.django_db
def test_fields_event_masks_a_password_hash():
    from django.contrib.auth import get_user_model

    from audit_events import AuditContext
    from audit_events.models import AuditEvent

    user = get_user_model().objects.create_user("bob", password="hunter22")
    event = AuditContext().create_fields_event(user, "username", "password")
    stored = AuditEvent.objects.get(pk=event.pk).content
    assert stored == {"username": "bob", "password": "********"}


def headers_of(**meta):
    return capture_headers(RequestFactory().get("/", **meta))


@override_settings(
    AUDIT_INCLUDE_HEADERS=["X-Internal-Key"], AUDIT_SENSITIVE_HEADERS=["X-Internal-Key"]
)
def test_sensitive_headers_may_be_named_as_headers():
    assert headers_of(HTTP_X_INTERNAL_KEY="k1secret") == {"X-Internal-Key": "********"}


@override_settings(AUDIT_INCLUDE_HEADERS=["Cookie"], AUDIT_SENSITIVE_HEADERS=["HTTP_X_MY_KEY"])
def test_overriding_sensitive_headers_keeps_credentials_masked():
    assert headers_of(HTTP_COOKIE="sessionid=abc") == {"Cookie": "********"}


@override_settings(
    AUDIT_INCLUDE_HEADERS=["Authorization"], AUDIT_ALLOW_SENSITIVE_HEADERS=["Authorization"]
)
def test_allowed_sensitive_header_may_be_named_as_header():
    assert headers_of(HTTP_AUTHORIZATION="Basic x") == {"Authorization": "Basic x"}


@override_settings(AUDIT_INCLUDE_HEADERS=["Referer"])
def test_secrets_in_the_referer_query_are_masked():
    referer = "https://shop.example/reset?token=REFSECRET&next=/home"
    stored = headers_of(HTTP_REFERER=referer)["Referer"]
    assert "REFSECRET" not in stored and "next=/home" in stored


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/x/y/",
        "/caf%C3%A9/",
        "/a b/",
        "/%2e%2e/etc/",
        "/a/./b/",
        "/a/../b/",
        "//evil.example/x",
        "/.well-known/x",
        "/semi;colon/",
        "/ünï/%41/",
        "/100%/",
    ],
)
@pytest.mark.parametrize(("secure", "host"), [(False, "shop.example:8443"), (True, "SHOP.Example")])
@override_settings(ALLOWED_HOSTS=["shop.example"])
def test_url_base_is_what_build_absolute_uri_gives(path, secure, host):
    """The cheaper join of scheme, host and path gives Django's URL for any path."""
    request = RequestFactory().get(path, secure=secure, HTTP_HOST=host)
    expected = request.build_absolute_uri().partition("?")[0]
    assert capture_url(request) == expected

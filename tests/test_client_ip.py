"""Client IP resolution: REMOTE_ADDR by default, X-Forwarded-For only from trusted proxies."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory, override_settings

from audit_events.context import AuditContext
from audit_events.models import AuditEvent
from audit_events.utils import get_client_ip, get_client_ip_resolver, parse_ip


def _request(remote_addr="198.51.100.1", xff=None):
    extra = {"REMOTE_ADDR": remote_addr}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/", **extra)


def test_remote_addr_is_the_client_by_default():
    assert get_client_ip(_request()) == "198.51.100.1"


def test_forwarded_for_from_an_untrusted_peer_is_ignored():
    """A client cannot forge its address (the original took the left-most XFF entry)."""
    assert get_client_ip(_request(xff="203.0.113.9")) == "198.51.100.1"


@override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.1"])
def test_forwarded_for_from_a_trusted_proxy_gives_the_client():
    assert get_client_ip(_request("10.0.0.1", "203.0.113.9")) == "203.0.113.9"


@override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_chain_is_walked_right_to_left_past_trusted_proxies():
    request = _request("10.0.0.1", "6.6.6.6, 203.0.113.9, 10.1.2.3, 10.0.0.2")
    assert get_client_ip(request) == "203.0.113.9"


@override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_forged_left_entries_do_not_win():
    assert get_client_ip(_request("10.0.0.1", "1.1.1.1, 203.0.113.9")) == "203.0.113.9"


@override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_chain_of_only_trusted_proxies_gives_the_left_most():
    assert get_client_ip(_request("10.0.0.1", "10.0.0.3, 10.0.0.2")) == "10.0.0.3"


@override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.0/8"])
@pytest.mark.parametrize("xff", ["unknown", "not an ip, 10.0.0.2", "", " , ", "999.1.1.1"])
def test_malformed_forwarded_for_falls_back_to_the_last_trusted_hop(xff):
    assert get_client_ip(_request("10.0.0.1", xff)) in ("10.0.0.1", "10.0.0.2")


@override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_malformed_entry_stops_the_walk():
    assert get_client_ip(_request("10.0.0.1", "203.0.113.9, garbage, 10.0.0.2")) == "10.0.0.2"


@override_settings(AUDIT_TRUSTED_PROXIES=["2001:db8:ffff::/48"])
def test_ipv6_proxies_and_clients():
    request = _request("2001:db8:ffff::1", "[2001:db8::42]:443, 2001:db8:ffff::2")
    assert get_client_ip(request) == "2001:db8::42"


@override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.1"])
def test_ports_are_stripped_from_forwarded_entries():
    assert get_client_ip(_request("10.0.0.1", "203.0.113.9:51234")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2001:DB8::1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[::1]", "::1"),
        ("bogus", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_ip_normalizes_or_rejects(value, expected):
    parsed = parse_ip(value)
    assert (None if parsed is None else str(parsed)) == expected


def test_missing_or_malformed_remote_addr_gives_none():
    assert get_client_ip(_request("garbage")) is None


@pytest.mark.django_db
def test_ipv6_client_is_stored(client):
    """The original stored None for IPv6 clients."""
    client.get("/record/", REMOTE_ADDR="2001:db8::1234")
    assert AuditEvent.objects.get().remote_addr == "2001:db8::1234"


@pytest.mark.django_db
@override_settings(AUDIT_TRUSTED_PROXIES=["127.0.0.1"])
def test_request_through_trusted_proxy_stores_forwarded_client(client):
    client.get("/record/", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert AuditEvent.objects.get().remote_addr == "203.0.113.50"


@pytest.mark.django_db
def test_request_with_forged_forwarded_for_stores_remote_addr(client):
    client.get("/record/", HTTP_X_FORWARDED_FOR="203.0.113.50")
    assert AuditEvent.objects.get().remote_addr == "127.0.0.1"


def test_resolver_defaults_to_get_client_ip():
    assert get_client_ip_resolver() is get_client_ip


def _fixed_resolver(request):
    return "192.0.2.99"


@override_settings(AUDIT_CLIENT_IP_RESOLVER_FUNCTION=_fixed_resolver)
def test_resolver_may_be_a_callable():
    assert AuditContext.from_request(_request()).remote_addr == "192.0.2.99"


@override_settings(AUDIT_CLIENT_IP_RESOLVER_FUNCTION="tests.test_client_ip._fixed_resolver")
def test_resolver_may_be_a_dotted_path():
    assert AuditContext.from_request(_request()).remote_addr == "192.0.2.99"


@pytest.mark.parametrize(
    "path",
    [
        "tests.nowhere.resolver",
        "tests.test_client_ip.missing",
        "tests.test_client_ip.DEFAULT_NOT_CALLABLE",
    ],
)
def test_bad_resolver_path_is_improperly_configured_naming_the_setting(path):
    with (
        override_settings(AUDIT_CLIENT_IP_RESOLVER_FUNCTION=path),
        pytest.raises(ImproperlyConfigured, match="AUDIT_CLIENT_IP_RESOLVER_FUNCTION"),
    ):
        get_client_ip_resolver()


DEFAULT_NOT_CALLABLE = "a string"


@pytest.mark.parametrize("value", [["10.0.0.0/33"], ["proxy.example.com"], "10.0.0.1"])
def test_bad_trusted_proxies_are_improperly_configured_naming_the_setting(value):
    with (
        override_settings(AUDIT_TRUSTED_PROXIES=value),
        pytest.raises(ImproperlyConfigured, match="AUDIT_TRUSTED_PROXIES"),
    ):
        get_client_ip(_request())


def _garbage_resolver(request):
    return "not an address"


@override_settings(AUDIT_CLIENT_IP_RESOLVER_FUNCTION=_garbage_resolver)
def test_resolver_returning_garbage_is_stored_as_none():
    assert AuditContext.from_request(_request()).remote_addr is None

"""Client IP resolution.

The original package took the left-most ``X-Forwarded-For`` entry, which any
client can write, and stored ``None`` for IPv6 clients. Here the address of
the peer (``REMOTE_ADDR``) is the client unless that peer is a proxy the
project declared in ``AUDIT_TRUSTED_PROXIES``; only then is
``X-Forwarded-For`` read, right to left, skipping further trusted proxies.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.module_loading import import_string

from audit_events.conf import settings

__all__ = ["get_client_ip", "get_client_ip_resolver", "normalize_ip"]

logger = logging.getLogger("audit_events")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_RESOLVER_SETTING = "AUDIT_CLIENT_IP_RESOLVER_FUNCTION"


def get_client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP address (IPv4 or IPv6) for ``request``.

    ``REMOTE_ADDR`` is the client unless it is in ``AUDIT_TRUSTED_PROXIES``.
    Then the ``X-Forwarded-For`` chain is walked from the right: every entry
    that is itself a trusted proxy is skipped, and the first one that is not is
    the client. A malformed entry stops the walk at the last address that could
    be trusted, so a forged or garbled header never yields an arbitrary value.

    Args:
        request: The incoming request.

    Returns:
        The address as text (IPv4-mapped IPv6 addresses are unmapped), or
        ``None`` when ``REMOTE_ADDR`` is missing or malformed.

    Raises:
        ImproperlyConfigured: ``AUDIT_TRUSTED_PROXIES`` holds a value that is
            not an IP address or network.
    """
    remote = parse_ip(request.META.get("REMOTE_ADDR"))
    if remote is None:
        return None
    proxies = trusted_proxies()
    if not _is_trusted(remote, proxies):
        return str(remote)
    client = remote
    for entry in reversed(_forwarded_for(request)):
        address = parse_ip(entry)
        if address is None:
            break
        client = address
        if not _is_trusted(address, proxies):
            break
    return str(client)


def _forwarded_for(request: HttpRequest) -> list[str]:
    # Several X-Forwarded-For header lines arrive joined by commas in META.
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return [part.strip() for part in str(header).split(",") if part.strip()]


def _is_trusted(address: IPAddress, proxies: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def parse_ip(value: Any) -> IPAddress | None:
    """Parse one address as found in ``REMOTE_ADDR`` or ``X-Forwarded-For``.

    Accepts ``1.2.3.4``, ``1.2.3.4:8080``, ``2001:db8::1``, ``[2001:db8::1]:443``
    and zone ids (``fe80::1%eth0``, dropped: PostgreSQL ``inet`` has none).
    IPv4-mapped IPv6 addresses become IPv4.

    Args:
        value: The text to parse.

    Returns:
        The address, or ``None`` when ``value`` is not an IP address.
    """
    if not isinstance(value, str):
        return None
    return _parse_ip_text(value)


# Parsing an address costs more than the rest of a request's capture; the same
# few clients and proxies come back on every request. Bounded: the text is the
# caller's.
@functools.lru_cache(maxsize=4096)
def _parse_ip_text(value: str) -> IPAddress | None:
    text = value.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    text = text.partition("%")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def normalize_ip(value: Any) -> str | None:
    """Return ``value`` as a canonical IP address text, or ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    return _normalize_ip_text(value)


@functools.lru_cache(maxsize=4096)
def _normalize_ip_text(value: str) -> str | None:
    address = _parse_ip_text(value)
    return None if address is None else str(address)


def is_canonical_ip(value: str) -> bool:
    """Whether ``value`` is an IP address written exactly as ``normalize_ip`` writes it."""
    return _normalize_ip_text(value) == value


def trusted_proxies() -> tuple[IPNetwork, ...]:
    """The networks of ``AUDIT_TRUSTED_PROXIES``.

    Raises:
        ImproperlyConfigured: an entry is not an IP address or network.
    """
    return _parse_networks(tuple(settings.AUDIT_TRUSTED_PROXIES))


@functools.lru_cache(maxsize=8)
def _parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"settings.AUDIT_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                f'({exc}); use e.g. ["10.0.0.1", "10.0.0.0/8", "2001:db8::/32"].'
            ) from exc
    return tuple(networks)


def get_client_ip_resolver() -> Callable[[HttpRequest], str | None]:
    """The function named by ``AUDIT_CLIENT_IP_RESOLVER_FUNCTION``.

    Returns:
        A callable taking the request and returning the client address.

    Raises:
        ImproperlyConfigured: the dotted path cannot be imported or does not
            name a callable.
    """
    value = settings.AUDIT_CLIENT_IP_RESOLVER_FUNCTION
    if callable(value):
        return value  # type: ignore[no-any-return]
    return _import_resolver(value)


@functools.lru_cache(maxsize=8)
def _import_resolver(path: str) -> Callable[[HttpRequest], str | None]:
    try:
        function = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"settings.{_RESOLVER_SETTING} = {path!r} cannot be imported ({exc}); set it to "
            "the dotted path of a function taking the request, e.g. "
            "'audit_events.utils.get_client_ip'."
        ) from exc
    if not callable(function):
        raise ImproperlyConfigured(
            f"settings.{_RESOLVER_SETTING} = {path!r} is not callable; it must name a "
            "function taking the request."
        )
    return function  # type: ignore[no-any-return]

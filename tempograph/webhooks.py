"""Webhook URLs: what Tempograph agrees to POST to (no server-side request forgery).

A webhook must be an absolute http(s) URL whose host resolves only to public addresses:
not loopback, private, link-local (cloud metadata), multicast, reserved or unspecified.
It is checked when the run is created and again just before each delivery, because DNS
can change in between. ``TEMPOGRAPH_WEBHOOK_ALLOW_PRIVATE=1`` lifts the address rule,
for local development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class WebhookRefused(ValueError):
    """The URL is not one Tempograph will POST to; the message says why."""


async def check_url(url: str, *, allow_private: bool = False) -> None:
    """Raise :class:`WebhookRefused` unless ``url`` is an acceptable webhook target."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"webhook {url!r} must be an absolute http or https URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookRefused(f"webhook {url!r} has an invalid port") from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, port, type=socket.SOCK_STREAM
        )
    except OSError as err:
        raise WebhookRefused(f"webhook host {parts.hostname!r} does not resolve: {err}") from None
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_multicast
            or address.is_reserved
            or address.is_unspecified
        ):
            raise WebhookRefused(
                f"webhook host {parts.hostname!r} resolves to {address}, which is not a public "
                "address (set TEMPOGRAPH_WEBHOOK_ALLOW_PRIVATE=1 to allow it)"
            )

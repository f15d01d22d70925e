"""Which webhook URLs Tempograph agrees to POST to."""

from __future__ import annotations

import pytest

from tempograph.webhooks import WebhookRefused, check_url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("/relative/hook", "absolute"),
        ("ftp://198.51.100.7/hook", "absolute http"),
        ("http://127.0.0.1:9000/hook", "not a public address"),
        ("http://[::1]/hook", "not a public address"),
        ("http://10.1.2.3/hook", "not a public address"),
        ("http://192.168.0.10/hook", "not a public address"),
        ("http://169.254.169.254/latest/meta-data", "not a public address"),
        ("http://0.0.0.0/hook", "not a public address"),
        ("http://224.0.0.1/hook", "not a public address"),
        ("http://8.8.8.8:99999/hook", "invalid port"),
        ("http://name.invalid/hook", "does not resolve"),
    ],
)
async def test_refused(url: str, why: str) -> None:
    with pytest.raises(WebhookRefused, match=why):
        await check_url(url)


async def test_public_address_is_accepted_and_private_ones_only_when_allowed() -> None:
    await check_url("https://8.8.8.8/hook")
    await check_url("http://127.0.0.1:9000/hook", allow_private=True)

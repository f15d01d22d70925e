"""The web console in headless Chromium (Debian's, over the DevTools protocol), on a real
API and worker: find a run, open its timeline, answer an approval, see the run finish.

With ``TEMPOGRAPH_SCREENSHOTS=docs`` the test also saves the screenshots the README shows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from langgraph_sdk import get_client
from temporalio.client import Client

from tempograph.api.builtin_auth import BuiltinAuth
from tempograph.api.cors import STUDIO_ORIGIN, cors_settings
from tempograph.database import migrate
from tempograph.keys import KeyStore
from tempograph.temporal.devserver import DevServer
from tests.conftest import ROOT
from tests.integration.api_server import observed_stack, serving
from tests.integration.browser import Page, chromium


@pytest.fixture(scope="module")
async def api(
    dev_server: DevServer, client: Client, postgres_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with observed_stack(dev_server, client, postgres_url) as http:
        yield http


def shots(tmp_path: Path) -> Path:
    wanted = os.environ.get("TEMPOGRAPH_SCREENSHOTS")
    folder = (ROOT / wanted) if wanted else tmp_path
    folder.mkdir(exist_ok=True)
    return folder


async def test_find_a_run_read_its_timeline_and_answer_an_approval(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    base = str(api.base_url).rstrip("/")
    sdk = get_client(url=base)
    thread = await sdk.threads.create(metadata={"name": "weather-desk"})
    await sdk.runs.wait(
        thread["thread_id"],
        "observed",
        input={
            "messages": [{"role": "user", "content": "weather?"}],
            "flaky_file": str(tmp_path / "f"),
        },
    )
    asking = await sdk.threads.create(metadata={"name": "refund-4411"})
    await sdk.runs.wait(asking["thread_id"], "refund", input={"amount": 120})
    folder = shots(tmp_path)

    with chromium() as port:
        async with Page.opened(port) as page:
            # Find the run: threads searchable by graph, then the thread's runs.
            await page.goto(f"{base}/console#/?graph=observed")
            text = await page.text_when("weather-desk")
            assert "refund-4411" not in text  # the graph filter applies
            await page.screenshot(folder / "console-threads.png")
            await page.click(f'a[href="#/thread/{thread["thread_id"]}"]')
            text = await page.text_when("State at every checkpoint")
            assert "$0.0060" in text  # the run's cost in the runs table
            assert "added messages" in text or "changed messages" in text  # a checkpoint diff
            await page.click('#runs a[href^="#/run/"]')
            # Its timeline: every attempt, the retried one with its error, and the graph.
            text = await page.text_when("Timeline")
            text = await page.text_when("Transient failure")
            assert "flaky attempt 1" in text and "flaky attempt 2" in text
            assert "RuntimeError: Transient failure" in text
            assert "1200 in / 300 out tokens" in text
            ran = await page.evaluate(
                "[...document.querySelectorAll('#graph .node.ran')].map(n => n.dataset.node)"
            )
            assert set(ran) == {"ask", "flaky"}
            await page.screenshot(folder / "console-run.png")

            # The approvals inbox: the question, how long it waited, who may answer.
            await page.goto(f"{base}/console#/approvals")
            text = await page.text_when("Send the refund of $120?")
            assert "anyone (no authentication)" in text and "waiting" in text
            await page.screenshot(folder / "console-approvals.png")
            await page.fill("#approval-0 input[name=comment]", "customer is a regular")
            await page.click('#approval-0 button[data-answer="approve"]')
            # The answer resumes the run as command.resume does; the run finishes.
            await page.text_when("Timeline")
            await page.text_when("success", within=60)

    state = await sdk.threads.get_state(asking["thread_id"])
    assert state["values"]["decision"] == {"approved": True, "comment": "customer is a regular"}
    assert not state["next"]
    runs = await sdk.runs.list(asking["thread_id"])
    assert runs[0]["metadata"]["answered_in"] == "console"


async def test_the_console_asks_for_credentials_where_the_api_needs_them(
    dev_server: DevServer, postgres_url: str
) -> None:
    async with serving(dev_server, postgres_url, auth=BuiltinAuth(keys=True, tokens=None)) as http:
        page = await http.get("/console")
        assert page.status_code == 200 and "Sign in" in page.text  # the shell holds no data
        assert (await http.get("/console/static/console.js")).status_code == 200
        assert (await http.get("/console/static/../app.py")).status_code == 404
        assert (await http.get("/info")).status_code == 401  # the data needs credentials
        pool = await asyncpg.create_pool(postgres_url, min_size=1, max_size=2)
        try:
            await migrate(pool)
            key, _ = await KeyStore(pool).create("acme", "viewer", "console test")
        finally:
            await pool.close()
        base = str(http.base_url).rstrip("/")
        with chromium() as port:
            async with Page.opened(port) as page:
                await page.goto(f"{base}/console")
                await page.text_when("Sign in")
                await page.fill("#login-form input[name=secret]", key)
                await page.click("#login-form button")
                text = await page.text_when("tenant acme")
                assert "Threads" in text


async def test_langgraph_studio_may_call_a_local_stack_across_origins(
    dev_server: DevServer, postgres_url: str
) -> None:
    """`tempograph up` lets LangGraph Studio's origin in (CORS, and Chrome's Private
    Network Access for an HTTPS page calling this machine); other origins get no grant."""
    settings = cors_settings(None, local=True)
    async with serving(dev_server, postgres_url, cors=settings) as http:
        preflight = await http.options(
            "/threads/search",
            headers={
                "Origin": STUDIO_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-api-key",
                "Access-Control-Request-Private-Network": "true",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == STUDIO_ORIGIN
        assert preflight.headers["access-control-allow-private-network"] == "true"
        info = await http.get("/info", headers={"Origin": STUDIO_ORIGIN})
        assert info.headers["access-control-allow-origin"] == STUDIO_ORIGIN
        other = await http.get("/info", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    assert cors_settings(None, local=False) is None  # a production API: only if configured
    configured = cors_settings({"allow_origins": ["https://app.example"]}, local=False)
    assert configured is not None and configured["allow_origins"] == ["https://app.example"]

"""Encryption at rest, as a new user gets it: `tempograph up` without any key makes one,
and canaries in a run's input, a node's output and an interrupt answer never reach
Temporal's database or the stored values in plaintext, while the API returns them."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pgserver
import pytest
from langgraph_sdk import get_sync_client
from temporalio.client import Client

from tests.conftest import TEST_GRAPHS
from tests.integration.browser import chromium, page_text_when
from tests.integration.test_cli import up_stack

PG_BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"


def _occurrences(root: Path, needle: bytes) -> dict[str, int]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            count = path.read_bytes().count(needle)
            if count:
                found[str(path)] = count
    return found


async def _decodes_in_the_ui(
    workflow_id: str, port: int, ui_port: int, api: str, canary: str
) -> None:
    """The codec endpoint the dev server's UI is pointed at turns a node's sealed input
    into readable JSON, and lets the UI's origin call it."""
    client = await Client.connect(f"127.0.0.1:{port}")  # no keys: raw payloads
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    node = next(a for a in scheduled if a.activity_type.name == "approval.draft")
    raw = [
        {
            "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
            "data": base64.b64encode(p.data).decode(),
        }
        for p in node.input.payloads
    ]
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in node.input.payloads)
    ui = f"http://127.0.0.1:{ui_port}"
    async with httpx.AsyncClient(base_url=api) as http:
        preflight = await http.options(
            "/codec/decode",
            headers={"Origin": ui, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == ui
        stranger = await http.options("/codec/decode", headers={"Origin": "http://evil.test"})
        assert stranger.status_code == 403
        decoded = await http.post(
            "/codec/decode",
            json={"payloads": raw},
            headers={"Origin": ui, "X-Namespace": "default"},
        )
        assert decoded.status_code == 200
        assert decoded.headers["access-control-allow-origin"] == ui
        [payload] = decoded.json()["payloads"]
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
        shown = json.loads(base64.b64decode(payload["data"]))
        assert canary in json.dumps(shown)  # the node input state, as JSON
        malformed = await http.post("/codec/decode", json={"nope": 1})
        assert malformed.status_code == 422 and "payloads" in malformed.text
    # And as a person sees it: the UI's page of that event shows the node's input as JSON.
    description = await client.get_workflow_handle(workflow_id).describe()
    event = next(
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "approval.draft"
    )
    page = (
        f"{ui}/namespaces/default/workflows/{workflow_id}/{description.run_id}"
        f"/history/events/{event}"
    )
    with chromium() as devtools:
        text = await page_text_when(devtools, page, '"kind": "node"')
    assert f'"request": "{canary}"' in text
    assert '"activity_type": "approval.draft"' in text


def test_canaries_stay_encrypted_in_temporal_and_the_value_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("encrypted")
    canary_in = f"canary-input-{uuid.uuid4().hex}"
    canary_answer = f"canary-answer-{uuid.uuid4().hex}"
    with up_stack(  # as a new user starts it: no key set
        data,
        TEST_GRAPHS / "langgraph.json",
        TEMPOGRAPH_ENCRYPTION_KEYS=None,
        LANGGRAPH_AES_KEY=None,
        PYTHONUNBUFFERED=None,  # as under a process manager: output is a pipe
    ) as (up, lines):
        port, ui_port, api_port = up.port, up.ui_port, up.api_port
        said = "".join(lines)
        assert "encryption at rest: AES-GCM, key" in said
        key_file = data / "encryption.keys"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert key_file.read_text().split(":")[1].strip() not in said  # never printed
        sdk = get_sync_client(url=f"http://127.0.0.1:{api_port}")
        thread = sdk.threads.create()
        first = sdk.runs.wait(thread["thread_id"], "approval", input={"request": canary_in})
        assert f"draft {canary_in}" in first["log"]  # the node's output, decrypted
        final = sdk.runs.wait(
            thread["thread_id"],
            "approval",
            command={"resume": {"approved": False, "why": canary_answer}},
        )
        assert final["approved"] is False
        state = sdk.threads.get_state(thread["thread_id"])
        assert state["values"]["request"] == canary_in
        # A node's print reaches the output while the stack runs (not piped, buffered).
        for _ in range(50):
            if "approval: drafting" in "".join(lines):
                break
            time.sleep(0.1)
        assert "approval: drafting" in "".join(lines)
        run = sdk.runs.list(thread["thread_id"])[-1]
        api = f"http://127.0.0.1:{api_port}"
        asyncio.run(_decodes_in_the_ui(run["workflow_id"], port, ui_port, api, canary_in))
        database = json.loads((data / "endpoints.json").read_text())["database"]

        async def stored_values_with_canaries() -> int:
            conn = await asyncpg.connect(database)
            try:
                sealed = await conn.fetchval(
                    "SELECT count(*) FROM tempograph_values WHERE substring(data for 4) = 'TGE1'"
                )
                assert sealed > 0
                return int(
                    await conn.fetchval(
                        "SELECT count(*) FROM tempograph_values"
                        " WHERE position($1::bytea in data) > 0 OR position($2::bytea in data) > 0",
                        canary_in.encode(),
                        canary_answer.encode(),
                    )
                )
            finally:
                await conn.close()

        assert asyncio.run(stored_values_with_canaries()) == 0
        dump = subprocess.run(
            [str(PG_BIN / "pg_dump"), "--data-only", "-d", database],
            capture_output=True,
            check=True,
        ).stdout
        assert b"COPY public.runs" in dump and b"COPY public.checkpoint_blobs" in dump
        for canary in (canary_in, canary_answer):
            assert dump.count(canary.encode()) == 0, canary
        temporal_dir = data / "temporal"
        assert any(p.name.startswith("temporal.db") for p in temporal_dir.iterdir())
        for canary in (canary_in, canary_answer):
            assert _occurrences(temporal_dir, canary.encode()) == {}
            assert canary not in said
    output = "".join(lines)  # everything `up` printed, its API's and worker's logs too
    for canary in (canary_in, canary_answer):
        assert canary not in output
        # After the last flush: Temporal's files, Postgres's files and logs, the key file.
        assert _occurrences(data, canary.encode()) == {}

"""Encryption at rest, as a new user gets it: `tempograph up` without any key makes one,
and canaries in a run's input, a node's output and an interrupt answer never reach
Temporal's database or the stored values in plaintext, while the API returns them."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import asyncpg
import pytest
from langgraph_sdk import get_sync_client

from tests.conftest import TEST_GRAPHS, free_port
from tests.integration.test_cli import started


def _occurrences(root: Path, needle: bytes) -> dict[str, int]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            count = path.read_bytes().count(needle)
            if count:
                found[str(path)] = count
    return found


def test_canaries_stay_encrypted_in_temporal_and_the_value_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("encrypted")
    port, ui_port, api_port = free_port(), free_port(), free_port()
    env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(data), "TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}
    env.pop("TEMPOGRAPH_ENCRYPTION_KEYS", None)  # a new user sets nothing
    env.pop("LANGGRAPH_AES_KEY", None)
    canary_in = f"canary-input-{uuid.uuid4().hex}"
    canary_answer = f"canary-answer-{uuid.uuid4().hex}"
    args = [
        "up",
        "--config",
        str(TEST_GRAPHS / "langgraph.json"),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--api-port",
        str(api_port),
    ]
    with started(args, env) as (_process, lines):
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
        temporal_dir = data / "temporal"
        assert any(p.name.startswith("temporal.db") for p in temporal_dir.iterdir())
        for canary in (canary_in, canary_answer):
            assert _occurrences(temporal_dir, canary.encode()) == {}
            assert canary not in said
    for canary in (canary_in, canary_answer):
        assert _occurrences(temporal_dir, canary.encode()) == {}  # after its last flush

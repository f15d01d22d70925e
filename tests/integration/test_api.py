"""The HTTP API's foundation: real Postgres (embedded), real uvicorn, real Temporal."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tempograph.database import MIGRATIONS, EmbeddedPostgres, migrate, open_pool
from tempograph.temporal.devserver import DevServer
from tests.conftest import TEST_GRAPHS, free_port
from tests.integration.api_server import serving

TEMPOGRAPH = str(Path(sys.executable).with_name("tempograph"))


@pytest.fixture
def postgres(tmp_path: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(tmp_path / "postgres")


async def test_migrations_apply_once_and_are_recorded(postgres: EmbeddedPostgres) -> None:
    url = await asyncio.to_thread(postgres.start)
    try:
        pool = await open_pool(url)
        try:
            assert await migrate(pool) == len(MIGRATIONS)
            assert await asyncio.gather(migrate(pool), migrate(pool)) == [len(MIGRATIONS)] * 2
            rows = await pool.fetch("SELECT version FROM tempograph_migrations ORDER BY version")
            assert [r["version"] for r in rows] == list(range(1, len(MIGRATIONS) + 1))
            vector = await pool.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
            assert vector is not None
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(postgres.stop)


async def test_ok_info_and_a_postgres_outage_with_recovery(
    dev_server: DevServer, postgres: EmbeddedPostgres
) -> None:
    url = await asyncio.to_thread(postgres.start)
    try:
        async with serving(dev_server, url) as http:
            assert (await http.get("/ok")).json() == {"ok": True}
            assert (await http.get("/ok", params={"check_db": 1})).status_code == 200
            info = (await http.get("/info")).json()
            assert info["graphs"] == [] and info["flags"]["crons"] is True
            missing = await http.get("/no/such/route")
            assert missing.status_code == 404 and "detail" in missing.json()
            bad = await http.get("/ok", params={"check_db": "often"})
            assert bad.status_code == 422 and "check_db" in bad.json()["detail"]

            await asyncio.to_thread(postgres.stop)
            down = await http.get("/ok", params={"check_db": 1})
            assert down.status_code == 503
            assert down.json()["detail"].startswith("Postgres is unavailable")
            assert (await http.get("/ok")).status_code == 200  # the API itself still serves

            await asyncio.to_thread(postgres.start)
            for _ in range(100):  # the pool reconnects by itself; no restart
                back = await http.get("/ok", params={"check_db": 1})
                if back.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert back.status_code == 200
    finally:
        await asyncio.to_thread(postgres.stop)


async def test_unreachable_database_url_gives_503_not_a_crash(dev_server: DevServer) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    with pytest.raises(Exception) as err:
        await open_pool(url)
    assert "cannot reach Postgres" in str(err.value)
    async with serving(dev_server, url) as http:
        response = await http.get("/ok", params={"check_db": 1})
    assert response.status_code == 503
    assert "cannot reach Postgres" in response.json()["detail"]


def test_api_refuses_a_public_address_without_authentication(tmp_path: Path) -> None:
    result = subprocess.run(
        [TEMPOGRAPH, "api", "--host", "0.0.0.0", "--port", str(free_port())],
        env={**os.environ, "TEMPOGRAPH_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "without authentication" in result.stderr
    assert '"auth"' in result.stderr  # says what to set


def test_a_worker_for_a_remote_cluster_needs_temporal_auth_and_an_encryption_key(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "TEMPOGRAPH_DATA_DIR": str(tmp_path),
        "TEMPORAL_ADDRESS": "temporal.example.test:7233",
    }
    for name in ("TEMPOGRAPH_ENCRYPTION_KEYS", "LANGGRAPH_AES_KEY", "TEMPORAL_API_KEY"):
        env.pop(name, None)

    def worker(**changes: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TEMPOGRAPH, "worker", "--config", str(TEST_GRAPHS / "langgraph.json")],
            env={**env, **changes},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    unauthenticated = worker()
    assert unauthenticated.returncode == 2
    assert "without authenticating to it" in unauthenticated.stderr
    assert "TEMPORAL_API_KEY" in unauthenticated.stderr
    unencrypted = worker(TEMPORAL_API_KEY="secret-api-key")
    assert unencrypted.returncode == 2
    assert "without encryption at rest" in unencrypted.stderr
    assert "secret-api-key" not in unencrypted.stderr + unencrypted.stdout


async def test_asyncpg_is_the_driver(postgres: EmbeddedPostgres) -> None:
    url = await asyncio.to_thread(postgres.start)
    try:
        conn = await asyncpg.connect(url)
        try:
            assert (await conn.fetchval("SHOW server_version")).startswith("16")
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(postgres.stop)

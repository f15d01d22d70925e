"""The long-running commands: ``up``, ``api``, ``worker`` and ``dev-server``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import Settings
from tempograph.stopping import PAST_GRACE, UP_MARGIN, exit_after, once

if TYPE_CHECKING:
    from temporalio.client import Client

from tempograph.api.cors import cors_settings
from tempograph.api.custom_app import load_app
from tempograph.console import (
    ENDPOINTS_FILE,
    _database_url,
    _err,
    _say,
    _stop_requested,
    _temporal_address,
)

# Python's cycle collector, for a long-lived server process: what start-up loaded
# (LangGraph, the SDKs, the graphs: ~190,000 objects in `up`) is frozen out of its
# scans, and the youngest generation is collected after 20,000 new containers, not 700.
# Under 20 clients the collector took 6.5% of `tempograph up`'s CPU, 2.6% tuned
# (bench/RESULTS.md).
GC_THRESHOLDS = (20_000, 20, 20)


def long_lived_heap() -> None:
    """Tune the cycle collector once the process has loaded what it keeps (idempotent)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def _serve_worker(
    settings: Settings,
    config_path: Path,
    on_ready: Callable[[list[str]], None],
    stop: asyncio.Event | None = None,
    node_queues: str = "all",
    share: asyncio.Future[Client] | None = None,
    sandbox: bool = False,
    metrics_port: int = 0,
    build_id: str | None = None,
    deployment: str | None = None,
    promote: bool = False,
) -> None:
    from temporalio.common import WorkerDeploymentVersion

    from tempograph.activities.events import Recorder
    from tempograph.breakers import Breakers
    from tempograph.crypto import KeyRing
    from tempograph.database import migrate
    from tempograph.registry import load_project, read_config, store_settings
    from tempograph.store import PostgresStore
    from tempograph.temporal.client import connect, require_temporal_auth
    from tempograph.temporal.versioning import AUTO, code_build_id
    from tempograph.temporal.versioning import promote as promote_version
    from tempograph.temporal.worker import build_workers
    from tempograph.workflows import values

    standalone = stop is None  # `tempograph worker` (not within `up`)
    stop = stop or _stop_requested()
    if standalone:  # beside a `tempograph up`, its Temporal unless TEMPORAL_ADDRESS says
        settings = dataclasses.replace(settings, temporal_address=_temporal_address(settings))
    require_temporal_auth(settings, "a worker")
    host = settings.temporal_address.rsplit(":", 1)[0].strip("[]")
    if host not in LOOPBACK and KeyRing.load() is None:
        raise TempographError(
            f"refusing to run a worker for {settings.temporal_address} without encryption at "
            "rest: set TEMPOGRAPH_ENCRYPTION_KEYS (the API's key ring) or LANGGRAPH_AES_KEY",
            code=ErrorCode.CONFIG_INVALID,
        )
    settings = dataclasses.replace(settings, database_url=_database_url(settings, "a worker"))
    config = read_config(config_path)
    graphs, failed = load_project(config)
    for graph_id, reason in sorted(failed.items()):
        _err(f"graph {graph_id!r} not loaded: {reason}")
    if not graphs:
        raise TempographError(
            f"no graph in {config_path} could be loaded", code=ErrorCode.GRAPH_LOAD_FAILED
        )
    if promote and not build_id:
        raise TempographError(
            "--promote makes a versioned worker's version current: give it --build-id",
            code=ErrorCode.CONFIG_INVALID,
        )
    version = None
    if build_id:
        if build_id == AUTO:
            build_id = code_build_id(config.path, [config.path.parent, *config.dependencies])
        version = WorkerDeploymentVersion(deployment or settings.task_queue, build_id)
    values.configure(settings.cache_bytes // 2)
    recorder = Recorder(settings.database_url, cache_bytes=settings.cache_bytes // 4)
    client = await connect(settings, recorder.values)
    if share is not None:
        share.set_result(client)  # the API of `tempograph up` starts runs on it: eagerly
    queues: str | list[str] = node_queues
    if node_queues not in ("all", "none"):
        queues = [q.strip() for q in node_queues.split(",") if q.strip()]
    store_index, store_ttl = store_settings(config)
    pool = await recorder.pool()
    await migrate(pool)  # the API may not have started yet; migrations are idempotent
    store = PostgresStore(pool, index=store_index, ttl=store_ttl)  # type: ignore[arg-type]
    await store.setup()
    workers = build_workers(
        client,
        settings.task_queue,
        graphs,
        recorder,
        node_queues=queues,
        max_concurrent_activities=settings.activity_slots,
        # A standalone worker ends itself at the grace (exit_after): the SDK's own
        # cancel, later, never comes.
        graceful_shutdown=timedelta(
            seconds=settings.graceful_shutdown_seconds + (PAST_GRACE if standalone else 0)
        ),
        webhook_allow_private=settings.webhook_allow_private,
        store=store,
        sandbox=sandbox,
        prices=config.prices,
        breakers=Breakers(recorder.pool, config.breakers),
        version=version,
    )
    if metrics_port:
        _serve_metrics(settings.metrics_host, metrics_port)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(recorder.close)  # after the workers stop
        for worker in workers:
            await stack.enter_async_context(worker)
        if version is not None:
            _say(f"worker version {version.to_canonical_string()} (runs pinned to it)")
            if promote and await promote_version(client, version):
                _say(f"promoted {version.to_canonical_string()}: new runs start on it")
            elif promote:
                _say(
                    f"not promoting {version.to_canonical_string()}: it was current before;"
                    " promote it by hand to roll back"
                )
        long_lived_heap()
        on_ready(sorted(graphs))
        await stop.wait()
        if standalone:
            exit_after(settings.graceful_shutdown_seconds)


def _serve_metrics(host: str, port: int) -> None:
    """Prometheus metrics of this worker process on ``host:port`` (a thread that ends with
    the process)."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as err:
        _err(
            f"metrics: cannot listen on {host}:{port} ({err.strerror}); this worker serves"
            " none (choose another with --metrics-port or TEMPOGRAPH_METRICS_PORT)"
        )
        return
    _say(f"worker metrics on http://{host}:{port}/metrics")


async def _dev_server(settings: Settings, port: int, ui_port: int) -> None:
    from tempograph.temporal.devserver import DevServer

    stop = _stop_requested()
    server = DevServer(settings.data_dir / "temporal", port=port, ui_port=ui_port)
    await server.start()
    try:
        _say(f"temporal dev server ready on {server.address}, UI http://127.0.0.1:{ui_port}")
        await stop.wait()
    finally:
        server.stop()


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _require_encryption(host: str) -> None:
    """A server reachable from other machines encrypts what it stores."""
    from tempograph.crypto import KeyRing

    if host not in LOOPBACK and KeyRing.load() is None:
        raise TempographError(
            f"refusing to serve the API on {host} without encryption at rest: set "
            "TEMPOGRAPH_ENCRYPTION_KEYS (id:base64 of 32 random bytes, comma-separated, the "
            "first encrypts) or LANGGRAPH_AES_KEY",
            code=ErrorCode.CONFIG_INVALID,
        )


def _require_auth(host: str, config: Any, policy: Any) -> None:
    """A server reachable from other machines needs an auth configuration."""
    if host not in LOOPBACK and policy is None:
        raise TempographError(
            f"refusing to serve the API on {host} without authentication: set "
            "TEMPOGRAPH_AUTH=keys (API keys from `tempograph keys create`), "
            "TEMPOGRAPH_AUTH=jwt with TEMPOGRAPH_JWT_JWKS, or add "
            '"auth": {"path": "./auth.py:auth"} (a langgraph_sdk.Auth) to '
            f"{config.path.name}; or listen on 127.0.0.1",
            code=ErrorCode.CONFIG_INVALID,
        )


async def _serve_api(
    settings: Settings,
    config_path: Path,
    host: str,
    port: int,
    on_ready: Callable[[str], None],
    stop: asyncio.Event,
    temporal: Awaitable[Client] | None = None,
) -> None:
    """The HTTP API on ``host:port`` (and, without ``DATABASE_URL``, embedded Postgres);
    on the worker's Temporal client if ``temporal`` gives it."""
    import uvicorn

    from tempograph.api import create_app
    from tempograph.api.builtin_auth import configured_policy
    from tempograph.api.server import ApiServer
    from tempograph.database import EmbeddedPostgres
    from tempograph.registry import load_project, read_config, store_settings

    config = read_config(config_path)
    if host not in LOOPBACK and not config.auth and not settings.auth:
        _require_auth(host, config, None)  # before anything starts
    _require_encryption(host)
    if temporal is None:  # its own client (not `up`'s): to the configured Temporal
        from tempograph.temporal.client import require_temporal_auth

        require_temporal_auth(settings, "the API")
    store_index, store_ttl = store_settings(config)
    graphs, failed = load_project(config)
    auth = configured_policy(settings, config)
    _require_auth(host, config, auth)
    for graph_id, reason in sorted(failed.items()):
        _err(f"graph {graph_id!r} not served by the API: {reason}")
    embedded = None
    database_url = settings.database_url
    if database_url is None:
        embedded = EmbeddedPostgres(settings.data_dir / "postgres")
        database_url = await asyncio.to_thread(embedded.start)
    try:
        app = create_app(
            settings,
            database_url,
            graphs,
            store_index,
            store_ttl,
            temporal,
            auth,
            thread_ttl=config.thread_ttl,
            # `tempograph up` (it shares its worker's client) lets LangGraph Studio in.
            cors=cors_settings(config.cors, local=temporal is not None),
            breakers=config.breakers,
            http=config.http,
            custom_app=load_app(config.http, config.path),
        )
        server = ApiServer(
            uvicorn.Config(
                app, host=host, port=port, log_level="warning", log_config=None, lifespan="on"
            )
        )

        async def serve() -> None:
            try:
                await server.serve()
            except SystemExit:  # uvicorn's word for a failed start-up (its lifespan's)
                raise TempographError(
                    f"the API did not start on {host}:{port}", code=ErrorCode.SERVER_UNAVAILABLE
                ) from None

        serving = asyncio.create_task(serve())
        while not server.started:
            if serving.done():
                serving.result()
                raise TempographError(
                    f"the API did not start on {host}:{port}", code=ErrorCode.SERVER_UNAVAILABLE
                )
            await asyncio.sleep(0.05)
        long_lived_heap()
        on_ready(f"http://{host}:{port}")
        await stop.wait()
        server.should_exit = True
        await serving
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _api(settings: Settings, config_path: Path, host: str, port: int) -> None:
    stop = _stop_requested()
    await _serve_api(
        settings, config_path, host, port, lambda url: _say(f"api ready on {url}"), stop
    )


async def _up(
    settings: Settings, config_path: Path, port: int, ui_port: int, api_port: int
) -> None:
    from tempograph.database import EmbeddedPostgres
    from tempograph.temporal.devserver import DevServer

    stop = _stop_requested()
    # The UI decodes payloads (encrypted, by reference) through the API's codec endpoint.
    server = DevServer(
        settings.data_dir / "temporal",
        port=port,
        ui_port=ui_port,
        extra_args=("--ui-codec-endpoint", f"http://127.0.0.1:{api_port}/codec"),
    )
    settings = dataclasses.replace(
        settings,
        codec_origins=(
            *settings.codec_origins,
            f"http://127.0.0.1:{ui_port}",
            f"http://localhost:{ui_port}",
        ),
        temporal_ui_url=settings.temporal_ui_url or f"http://127.0.0.1:{ui_port}",
    )
    from tempograph.registry import read_config

    project = read_config(config_path)
    if project.auth and settings.auth:  # refused before anything starts
        raise TempographError(
            f'{config_path.name} has an "auth" section and TEMPOGRAPH_AUTH is set: choose one',
            code=ErrorCode.CONFIG_INVALID,
        )
    from tempograph.registry import load_project

    loadable, failed = load_project(project)
    if not loadable:  # refused before anything starts, with every graph's reason
        reasons = "; ".join(f"{graph}: {why}" for graph, why in sorted(failed.items()))
        raise TempographError(
            f"no graph in {config_path} could be loaded: {reasons}",
            code=ErrorCode.GRAPH_LOAD_FAILED,
        )
    if project.auth:
        guard = "auth from langgraph.json"
    elif settings.auth:
        guard = f"built-in auth ({', '.join(settings.auth)})"
    else:
        guard = "no authentication"
    _say(f"tempograph up: local development, loopback only, {guard}")
    from tempograph.crypto import KeyRing

    ring = KeyRing.load()
    _say(
        "encryption at rest: AES-GCM, key "
        + (f"{ring.current!r}" if ring else "none (stored unencrypted)")
    )
    await server.start()
    settings = dataclasses.replace(settings, temporal_address=server.address)
    embedded = None
    if settings.database_url is None:
        # One embedded Postgres for the API and the worker (which records run events).
        embedded = EmbeddedPostgres(settings.data_dir / "postgres")
        try:
            url = await asyncio.to_thread(embedded.start)
        except BaseException:
            server.stop()
            raise
        settings = dataclasses.replace(settings, database_url=url)
    pending = {"worker", "api"}
    endpoints = settings.data_dir / ENDPOINTS_FILE

    @once
    def stop_servers() -> None:
        server.stop()
        if embedded is not None:
            embedded.stop()

    def ready(part: str, detail: str) -> None:
        _say(f"{part}: {detail}")
        pending.discard(part)
        if not pending:
            # `tempograph run` and friends find this stack's API here.
            endpoints.write_text(
                json.dumps(
                    {
                        "api": f"http://127.0.0.1:{api_port}",
                        "temporal": server.address,
                        "database": settings.database_url,
                    }
                )
            )
            _say(f"tempograph ready: graphs from {config_path}")

    # One Temporal client for the worker and the API: a run the API starts goes straight
    # to this process's worker (eager workflow start), without a task-queue poll.
    client: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
    try:
        _say(f"temporal dev server on {server.address}, UI http://127.0.0.1:{ui_port}")
        parts = [
            asyncio.create_task(
                _serve_worker(
                    settings,
                    config_path,
                    lambda graphs: ready("worker", f"serving {graphs}"),
                    stop,
                    share=client,
                )
            ),
            asyncio.create_task(
                _serve_api(
                    settings,
                    config_path,
                    "127.0.0.1",
                    api_port,
                    lambda url: ready("api", f"listening on {url}"),
                    stop,
                    client,
                )
            ),
        ]
        # A stop signal, or one part failing (a taken port, a bad graph file), stops all.
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([*parts, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        stop.set()
        client.cancel()  # an API still waiting for the worker's client gives up
        # The worker cancels its nodes at the grace, but a sync node's thread cannot be
        # stopped: the process would wait for it (for as long as the node runs) to exit.
        exit_after(
            settings.graceful_shutdown_seconds + UP_MARGIN,
            "the next `tempograph up` runs them again after their heartbeat timeout",
            before=stop_servers,
        )
        for result in await asyncio.gather(*parts, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
    finally:
        endpoints.unlink(missing_ok=True)
        await asyncio.to_thread(stop_servers)

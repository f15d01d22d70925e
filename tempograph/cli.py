"""The ``tempograph`` command.

Exit codes of ``run`` and ``resume``: 0 the run finished, 1 it failed, 2 bad input
(nothing was changed), 3 it stopped at an interrupt, 4 the stack cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import Settings

if TYPE_CHECKING:
    from temporalio.client import Client

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4
# Written by `tempograph up` into its data directory while it runs: where its API is.
ENDPOINTS_FILE = "endpoints.json"


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def _out(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def _say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def default_config() -> Path:
    """The mission's demo graph: ``../shared/acceptance/langgraph.json`` beside the repo."""
    repo = Path(__file__).resolve().parent.parent
    return repo.parent / "shared" / "acceptance" / "langgraph.json"


def _parse_json(flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise TempographError(
            f"{flag} is not valid JSON: {err}", code=ErrorCode.INVALID_INPUT
        ) from None


# -- long-running parts ----------------------------------------------------------------


def _stop_requested() -> asyncio.Event:
    """An event set by SIGINT/SIGTERM. Installed before anything starts, so a signal that
    arrives right after ``ready`` still stops everything cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _serve_worker(
    settings: Settings,
    config_path: Path,
    on_ready: Callable[[list[str]], None],
    stop: asyncio.Event | None = None,
    node_queues: str = "all",
    share: asyncio.Future[Client] | None = None,
    sandbox: bool = False,
) -> None:
    from tempograph.activities.events import Recorder
    from tempograph.crypto import KeyRing
    from tempograph.database import migrate
    from tempograph.registry import load_project, read_config, store_settings
    from tempograph.store import PostgresStore
    from tempograph.temporal.client import connect, require_temporal_auth
    from tempograph.temporal.worker import build_workers
    from tempograph.workflows import values

    stop = stop or _stop_requested()
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
        graceful_shutdown=timedelta(seconds=settings.graceful_shutdown_seconds),
        webhook_allow_private=settings.webhook_allow_private,
        store=store,
        sandbox=sandbox,
    )
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(recorder.close)  # after the workers stop
        for worker in workers:
            await stack.enter_async_context(worker)
        on_ready(sorted(graphs))
        await stop.wait()


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
        )
        server = ApiServer(
            uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
                raise TempographError(
                    f"the API did not start on {host}:{port}", code=ErrorCode.SERVER_UNAVAILABLE
                )
            await asyncio.sleep(0.05)
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
    )
    from tempograph.registry import read_config

    project = read_config(config_path)
    if project.auth and settings.auth:  # refused before anything starts
        raise TempographError(
            f'{config_path.name} has an "auth" section and TEMPOGRAPH_AUTH is set: choose one',
            code=ErrorCode.CONFIG_INVALID,
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
        # If one part fails (a taken port, a bad graph file), stop the others too.
        await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
        stop.set()
        client.cancel()  # an API still waiting for the worker's client gives up
        for result in await asyncio.gather(*parts, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
    finally:
        endpoints.unlink(missing_ok=True)
        server.stop()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


# -- client commands -------------------------------------------------------------------


async def _follow(settings: Settings, api: Any, thread: str, thread_id: str, run: Any) -> int:
    from tempograph.remote import follow_run
    from tempograph.temporal.client import tls_config

    _err(f"run {run['run_id']} on thread {thread!r}")
    # Node progress comes from Temporal: with the same credentials as a worker's.
    credentials = {"tls": tls_config(settings), "api_key": settings.temporal_api_key}
    outcome, shown = await follow_run(
        api, thread_id, run, settings.temporal_address, settings.namespace, _err, credentials
    )
    if outcome == "success":
        _out(shown)
        return EXIT_OK
    if outcome == "interrupted":
        _err(
            f"run {run['run_id']} on thread {thread!r} is waiting for input; answer with "
            f"`tempograph resume {thread} --value JSON`"
        )
        _out(shown)
        return EXIT_INTERRUPTED
    error = {"type": shown.get("error", "Error"), "message": shown.get("message", "")}
    if shown.get("node"):
        error = {"node": shown["node"], **error}
    where = f"node {error['node']!r} failed: " if error.get("node") else ""
    _err(f"run {run['run_id']} failed: {where}{error['type']}: {error['message']}")
    _out({"status": "error", "run_id": run["run_id"], "thread_id": thread, "error": error})
    return EXIT_FAILED


def _database_url(settings: Settings, who: str) -> str:
    """``DATABASE_URL``, else the database of the ``tempograph up`` running on this data
    directory."""
    found = settings.database_url or _endpoints(settings).get("database")
    if not found:
        raise TempographError(
            f"{who} needs the API's database: set DATABASE_URL (or run it beside a"
            " `tempograph up` on the same TEMPOGRAPH_DATA_DIR)",
            code=ErrorCode.CONFIG_INVALID,
        )
    return str(found)


async def _keys(settings: Settings, args: argparse.Namespace) -> int:
    """``tempograph keys create|list|revoke``, on the API's database."""
    import asyncpg

    from tempograph.database import migrate, open_pool
    from tempograph.keys import KeyStore

    pool = await open_pool(_database_url(settings, "`tempograph keys`"))
    try:
        await migrate(pool)
        store = KeyStore(pool)
        if args.keys_command == "create":
            key, row = await store.create(args.tenant, args.role, args.name)
            _err("the key is shown only now: store it as a secret (it is kept only as a hash)")
            _out({**row, "key": key})
        elif args.keys_command == "list":
            _out(await store.list(args.tenant))
        elif not await store.revoke(args.key_id):
            raise TempographError(f"no API key {args.key_id!r}", code=ErrorCode.NOT_FOUND)
        else:
            _err(f"revoked {args.key_id}")
    except asyncpg.PostgresError as err:
        raise TempographError(
            f"Postgres refused: {err}", code=ErrorCode.SERVER_UNAVAILABLE
        ) from None
    finally:
        await pool.close()
    return EXIT_OK


async def _audit(settings: Settings, args: argparse.Namespace) -> int:
    """``tempograph audit verify``: walk the audit log's hash chain."""
    from tempograph.audit import AuditLog
    from tempograph.database import migrate, open_pool

    pool = await open_pool(_database_url(settings, "`tempograph audit`"))
    try:
        await migrate(pool)
        verdict = await AuditLog(pool).verify()
    finally:
        await pool.close()
    _out(
        {
            "ok": verdict.ok,
            "rows": verdict.rows,
            "head": verdict.head,
            "broken_at": verdict.broken_at,
            "reason": verdict.reason or None,
        }
    )
    if not verdict.ok:
        _err(f"audit log broken at row {verdict.broken_at}: {verdict.reason}")
        return EXIT_FAILED
    _err(f"audit log intact: {verdict.rows} rows; record the head hash to detect a cut tail")
    return EXIT_OK


def _endpoints(settings: Settings) -> dict[str, Any]:
    """What the ``tempograph up`` running on this data directory serves, if one does."""
    try:
        found = json.loads((settings.data_dir / ENDPOINTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _api_url(settings: Settings) -> str:
    """``TEMPOGRAPH_API_URL``, else the API of the ``tempograph up`` running on this data
    directory, else the default."""
    if "TEMPOGRAPH_API_URL" in os.environ:
        return settings.api_url
    return str(_endpoints(settings).get("api") or settings.api_url)


async def _with_api(settings: Settings, work: Callable[[Any], Coroutine[Any, Any, int]]) -> int:
    from tempograph.remote import Api

    api = Api(_api_url(settings))
    try:
        return await work(api)
    finally:
        await api.close()


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    from tempograph.remote import thread_uuid

    graph_input = _parse_json("--input", args.input)
    if args.recursion_limit is not None and args.recursion_limit < 1:
        raise TempographError(
            "--recursion-limit must be a positive integer", code=ErrorCode.INVALID_INPUT
        )
    thread = args.thread or str(uuid.uuid4())
    config: dict[str, Any] = {}
    if args.recursion_limit is not None:
        config["recursion_limit"] = args.recursion_limit

    async def work(api: Any) -> int:
        info = await api.call("GET", "/info")
        thread_id = thread_uuid(thread, info.get("tenant"))
        served = info["graphs"]
        if args.graph not in served:
            raise TempographError(
                f"unknown graph {args.graph!r}; this stack serves {served}",
                code=ErrorCode.UNKNOWN_GRAPH,
            )
        run = await api.call(
            "POST",
            f"/threads/{thread_id}/runs",
            {
                "assistant_id": args.graph,
                "input": graph_input,
                "config": config,
                "if_not_exists": "create",
            },
        )
        # The thread's name, for people reading it in the API.
        await api.call("PATCH", f"/threads/{thread_id}", {"metadata": {"name": thread}})
        return await _follow(settings, api, thread, thread_id, run)

    return await _with_api(settings, work)


async def _thread(api: Any, name: str, thread_id: str, missing: ErrorCode) -> Any:
    """The thread, or a TempographError with ``missing`` as its code if there is none."""
    try:
        return await api.call("GET", f"/threads/{thread_id}")
    except TempographError as err:
        if err.code in (ErrorCode.SERVER_UNAVAILABLE, ErrorCode.UNAUTHORIZED):
            raise
        raise TempographError(f"thread {name!r} does not exist", code=missing) from None


async def _resume(settings: Settings, args: argparse.Namespace) -> int:
    from tempograph.remote import thread_uuid

    value = _parse_json("--value", args.value)

    async def work(api: Any) -> int:
        thread_id = thread_uuid(args.thread, (await api.call("GET", "/info")).get("tenant"))
        found = await _thread(api, args.thread, thread_id, ErrorCode.NOT_WAITING)
        graph_id = found["metadata"].get("graph_id")
        if found["status"] != "interrupted" or not graph_id:
            raise TempographError(
                f"thread {args.thread!r} is not waiting for input", code=ErrorCode.NOT_WAITING
            )
        run = await api.call(
            "POST",
            f"/threads/{thread_id}/runs",
            {"assistant_id": graph_id, "command": {"resume": value}},
        )
        _err(f"resumed thread {args.thread!r}")
        return await _follow(settings, api, args.thread, thread_id, run)

    return await _with_api(settings, work)


async def _state(settings: Settings, args: argparse.Namespace) -> int:
    from tempograph.remote import thread_uuid

    async def work(api: Any) -> int:
        thread_id = thread_uuid(args.thread, (await api.call("GET", "/info")).get("tenant"))
        found = await _thread(api, args.thread, thread_id, ErrorCode.INVALID_INPUT)
        state = await api.call("GET", f"/threads/{thread_id}/state")
        runs = await api.call("GET", f"/threads/{thread_id}/runs?limit=1")
        body: dict[str, Any] = {
            "thread_id": args.thread,
            "status": found["status"],
            "values": state["values"],
            "next": state["next"],
            "interrupts": state["interrupts"],
            "checkpoint_id": state["checkpoint_id"],
            "run_id": runs[0]["run_id"] if runs else None,
        }
        if args.history:
            history = await api.call("POST", f"/threads/{thread_id}/history", {"limit": 1000})
            body["history"] = [
                {
                    "checkpoint_id": h["checkpoint_id"],
                    "parent_checkpoint_id": h["parent_checkpoint_id"],
                    "step": (h["metadata"] or {}).get("step"),
                    "source": (h["metadata"] or {}).get("source"),
                    "values": h["values"],
                    "next": h["next"],
                    "created_at": h["created_at"],
                }
                for h in history
            ]
        _out(body)
        return EXIT_OK

    return await _with_api(settings, work)


# -- entry point -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tempograph", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="dev server + worker (+ API) in the foreground")
    up.add_argument("--config", type=Path, default=None, help="langgraph.json (default: demo)")
    up.add_argument("--port", type=int, default=7233, help="Temporal gRPC port")
    up.add_argument("--ui-port", type=int, default=8233, help="Temporal UI port")
    up.add_argument("--api-port", type=int, default=8000, help="HTTP API port")

    api = sub.add_parser("api", help="the HTTP API alone (needs Temporal running)")
    api.add_argument("--config", type=Path, default=None, help="langgraph.json (default: demo)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    dev = sub.add_parser("dev-server", help="the Temporal dev server alone")
    dev.add_argument("--port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)

    worker = sub.add_parser("worker", help="a worker for the graphs in a langgraph.json")
    worker.add_argument("--config", type=Path, required=True)
    worker.add_argument(
        "--node-queues",
        default="all",
        help="node task queues to serve: 'all' (default, beside the main queue), 'none' "
        "(main queue only), or a comma list (a node pool: only those, no workflows)",
    )
    worker.add_argument(
        "--sandbox",
        action="store_true",
        help="run every node's attempts in a sandboxed child process (scrubbed environment,"
        " CPU and memory limits, own temp dir, no network)",
    )

    run = sub.add_parser("run", help="run a graph on the running stack")
    run.add_argument("graph")
    run.add_argument("--input", required=True, help="the graph input, as JSON")
    run.add_argument("--thread", default=None, help="thread id (default: a new thread)")
    run.add_argument("--recursion-limit", type=int, default=None)

    resume = sub.add_parser("resume", help="answer the interrupt a thread is waiting at")
    resume.add_argument("thread")
    resume.add_argument("--value", required=True, help="the answer, as JSON")

    state = sub.add_parser("state", help="a thread's current state, as JSON")
    state.add_argument("thread")
    state.add_argument("--history", action="store_true", help="include checkpoint history")
    keys = sub.add_parser("keys", help="built-in API keys (TEMPOGRAPH_AUTH=keys)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="a new key; prints its secret once")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--role", required=True, choices=["viewer", "approver", "operator", "admin"]
    )
    create.add_argument("--name", default=None)
    listing = keys_sub.add_parser("list", help="keys (never their secrets), as JSON")
    listing.add_argument("--tenant", default=None)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    audit = sub.add_parser("audit", help="the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the hash chain; exit 1 if it is broken")
    return parser


def _config_arg(args: argparse.Namespace) -> Path:
    path: Path = (args.config or default_config()).resolve()
    if not path.exists():
        raise TempographError(
            f"config {path} does not exist; pass --config langgraph.json",
            code=ErrorCode.CONFIG_INVALID,
        )
    return path


def _encryption(settings: Settings, *, create: bool) -> Any:
    """The key ring this process encrypts with (see :mod:`tempograph.crypto`): from the
    environment, else the data directory's key file (which ``up`` makes). It is put in
    this process's environment, where every value store and data converter finds it."""
    import base64

    from tempograph.crypto import KeyRing, new_key_file

    ring = KeyRing.load(settings.data_dir)
    if ring is None and create:
        ring = new_key_file(settings.data_dir)
    if ring is not None and "TEMPOGRAPH_ENCRYPTION_KEYS" not in os.environ:
        os.environ["TEMPOGRAPH_ENCRYPTION_KEYS"] = ",".join(
            f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in ring.keys
        )
    return ring


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # What nodes print reaches the output line by line, also when it is not a terminal.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    settings = Settings.from_env()
    commands: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "up": lambda: _up(settings, _config_arg(args), args.port, args.ui_port, args.api_port),
        "api": lambda: _api(settings, _config_arg(args), args.host, args.port),
        "dev-server": lambda: _dev_server(settings, args.port, args.ui_port),
        "worker": lambda: _serve_worker(
            settings,
            _config_arg(args),
            lambda graphs: _say(f"worker ready: queue {settings.task_queue!r}, graphs {graphs}"),
            node_queues=args.node_queues,
            sandbox=args.sandbox,
        ),
        "run": lambda: _run(settings, args),
        "resume": lambda: _resume(settings, args),
        "state": lambda: _state(settings, args),
        "keys": lambda: _keys(settings, args),
        "audit": lambda: _audit(settings, args),
    }
    try:
        _encryption(settings, create=args.command == "up")
        result = asyncio.run(commands[args.command]())
    except TempographError as err:
        _err(f"error: {err.message}")
        if err.code == ErrorCode.SERVER_UNAVAILABLE:
            return EXIT_UNAVAILABLE
        if err.code in (ErrorCode.RUN_FAILED, ErrorCode.GRAPH_LOAD_FAILED):
            return EXIT_FAILED
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_OK
    return int(result) if isinstance(result, int) else EXIT_OK


def entrypoint() -> None:
    """Console script: exit without interpreter finalization racing Temporal's core threads.

    The Rust runtime behind the Temporal client keeps native threads; a normal exit
    finalizes Python under them and can abort (exit 134) after the answer was printed.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entrypoint()

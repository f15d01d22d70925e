"""The client commands: ``run``, ``resume`` and ``state`` (through the HTTP API, as any
client), and ``keys`` and ``audit`` (on the API's database)."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import Settings

if TYPE_CHECKING:
    pass

from tempograph.console import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    _api_url,
    _database_url,
    _err,
    _out,
    _parse_json,
    _temporal_address,
)


async def _follow(settings: Settings, api: Any, thread: str, thread_id: str, run: Any) -> int:
    from tempograph.remote import follow_run
    from tempograph.temporal.client import tls_config

    _err(f"run {run['run_id']} on thread {thread!r}")
    # Node progress comes from Temporal: with the same credentials as a worker's.
    credentials = {"tls": tls_config(settings), "api_key": settings.temporal_api_key}
    outcome, shown = await follow_run(
        api, thread_id, run, _temporal_address(settings), settings.namespace, _err, credentials
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

"""LangGraph's ``StateSnapshot`` as LangGraph Server's ThreadState, and fast JSON bodies.

A thread's state is read through LangGraph's own ``aget_state`` on the checkpoint store,
so its objects come from the store's cache of decoded parts: the same message objects
from one read to the next. :func:`jsonable` remembers the JSON form of each such object
by identity, so reading the state of a 1,000-message thread does not rebuild a thousand
dicts every time; :func:`json_response` writes the body with ``orjson`` instead of
FastAPI's encoder.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel

from tempograph.workflows.jsonable import to_jsonable


class _IdentityMemo:
    def __init__(self, limit: int = 20_000) -> None:
        self._limit = limit
        self._items: OrderedDict[int, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, value: Any) -> Any:
        with self._lock:
            found = self._items.get(id(value))
            if found is None or found[0] is not value:
                return None
            self._items.move_to_end(id(value))
            return found[1]

    def put(self, value: Any, jsonable: Any) -> None:
        with self._lock:
            self._items[id(value)] = (value, jsonable)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)


_MEMO = _IdentityMemo()


def jsonable(value: Any) -> Any:
    """``to_jsonable(value)``, remembering models (messages) by identity."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, BaseModel):
        found = _MEMO.get(value)
        if found is None:
            found = to_jsonable(value)
            _MEMO.put(value, found)
        return found
    return to_jsonable(value)


def json_response(body: Any, status_code: int = 200) -> Response:
    """``body`` (JSON-ready) as a response, serialized once and fast."""
    try:
        content = orjson.dumps(body)
    except TypeError:  # an integer beyond 64 bits: the standard library handles it
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content=content, media_type="application/json", status_code=status_code)


def _checkpoint(thread_id: str, config: Any) -> dict[str, Any] | None:
    if not config:
        return None
    conf = config.get("configurable", {})
    out = {
        "thread_id": thread_id,
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
    }
    if conf.get("checkpoint_map"):
        out["checkpoint_map"] = conf["checkpoint_map"]
    return out


def snapshot_json(thread_id: str, snapshot: Any) -> dict[str, Any]:
    """A LangGraph ``StateSnapshot`` as LangGraph Server's ThreadState."""
    checkpoint = _checkpoint(thread_id, snapshot.config)
    parent = _checkpoint(thread_id, snapshot.parent_config)
    tasks = []
    for task in snapshot.tasks:
        nested = task.state
        tasks.append(
            {
                "id": task.id,
                "name": task.name,
                "path": jsonable(list(task.path)),
                # LangGraph keeps a task's error as its repr (a string) in the checkpoint.
                "error": task.error
                if task.error is None or isinstance(task.error, str)
                else repr(task.error),
                "interrupts": jsonable(list(task.interrupts)),
                "checkpoint": _checkpoint(thread_id, nested) if isinstance(nested, dict) else None,
                # With subgraphs=true, LangGraph puts the subgraph's own snapshot here.
                "state": snapshot_json(thread_id, nested)
                if nested is not None and not isinstance(nested, dict)
                else None,
                "result": jsonable(task.result),
            }
        )
    metadata = jsonable(dict(snapshot.metadata or {}))
    if metadata.get("checkpoint_ns") == "":
        del metadata["checkpoint_ns"]
    return {
        "values": jsonable(snapshot.values),
        "next": list(snapshot.next),
        "tasks": tasks,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "metadata": metadata,
        "created_at": snapshot.created_at,
        "interrupts": jsonable(list(snapshot.interrupts)),
        "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
        "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
    }

"""The config a node attempt runs with, as LangGraph would build it for the task, and the
pieces of it a node body calls into (``@task`` run in place, heartbeats from any thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph._internal._constants import (
    CONF,
    CONFIG_KEY_CALL,
    CONFIG_KEY_CHECKPOINT_ID,
    CONFIG_KEY_CHECKPOINT_NS,
    CONFIG_KEY_CHECKPOINTER,
    CONFIG_KEY_REPLAY_STATE,
    CONFIG_KEY_RESUME_MAP,
    CONFIG_KEY_RESUMING,
    CONFIG_KEY_RUNTIME,
    CONFIG_KEY_SCRATCHPAD,
    CONFIG_KEY_TASK_ID,
)
from langgraph._internal._replay import ReplayState
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel._messages import StreamMessagesHandler
from langgraph.runtime import ExecutionInfo, Runtime
from langgraph.store.base import BaseStore
from temporalio import activity

from tempograph.activities.attempt import new_scratchpad
from tempograph.activities.events import NodeStream
from tempograph.identity import as_user
from tempograph.tenant_store import TenantStore
from tempograph.workflows.types import NodeCall, NodeResult


def node_config(
    call: NodeCall,
    result: NodeResult,
    attempt: int,
    stream: NodeStream | None,
    store: BaseStore | None,
    checkpointer: BaseCheckpointSaver[Any] | None,
) -> RunnableConfig:
    def consumed() -> None:
        result.consumed_null_resume = True

    scratchpad = new_scratchpad(call.step, call.stop, call.resume, call.null_resume, consumed)
    conf = dict(call.config.get("configurable", {}))
    if "langgraph_auth_user" in conf:  # the run's caller, as LangGraph Server gives it
        conf["langgraph_auth_user"] = as_user(conf["langgraph_auth_user"])
    # The namespace of the graph this node belongs to (its own segment dropped).
    namespace = tuple(call.checkpoint_ns.split("|"))[:-1] if call.checkpoint_ns else ()

    def write_custom(value: Any) -> None:
        if stream is not None:
            stream.put((namespace, "custom", value))

    runtime: Runtime[Any] = Runtime(
        stream_writer=write_custom,
        store=TenantStore(store, conf["tempograph_tenant"])
        if store is not None and conf.get("tempograph_tenant")
        else store,
        context=call.context,
        heartbeat=_heartbeat_from_any_thread(),
        previous=call.previous,
        execution_info=ExecutionInfo(
            checkpoint_id=call.checkpoint_id,
            checkpoint_ns=call.checkpoint_ns,
            task_id=call.task_id,
            thread_id=conf.get("thread_id"),
            run_id=conf.get("run_id"),
            node_attempt=attempt,
        ),
    )
    conf.update(
        {
            CONFIG_KEY_SCRATCHPAD: scratchpad,
            CONFIG_KEY_CHECKPOINT_NS: call.checkpoint_ns,
            CONFIG_KEY_TASK_ID: call.task_id,
            CONFIG_KEY_RUNTIME: runtime,
            CONFIG_KEY_CALL: _call_inline,
            # A graph the body invokes keeps its checkpoints on the thread, under this
            # task's namespace, as LangGraph's own checkpointer would: so an interrupt()
            # in it resumes where it stopped, and get_state(subgraphs=True) shows it.
            CONFIG_KEY_CHECKPOINTER: checkpointer,
            CONFIG_KEY_CHECKPOINT_ID: None,
            # A retried attempt finds the graph's checkpoints from the one before: it
            # goes on from them, as LangGraph's own retries do.
            CONFIG_KEY_RESUMING: bool(call.resuming) or attempt > 1,
        }
    )
    if call.resume_map is not None:
        conf[CONFIG_KEY_RESUME_MAP] = call.resume_map
    if call.replay_checkpoint_id is not None:
        conf[CONFIG_KEY_REPLAY_STATE] = ReplayState(call.replay_checkpoint_id)
    config: RunnableConfig = {
        CONF: conf,
        "metadata": dict(call.config.get("metadata", {})),
        "tags": list(call.config.get("tags", [])),
    }
    if call.config.get("recursion_limit") is not None:
        config["recursion_limit"] = call.config["recursion_limit"]
    if call.config.get("run_name"):
        config["run_name"] = call.config["run_name"]
    if stream is not None and stream.wants("messages"):
        config["callbacks"] = [StreamMessagesHandler(stream.put, stream.spec.subgraphs)]
    return config


def _heartbeat_from_any_thread() -> Callable[..., None]:
    """``activity.heartbeat`` usable from a sync node, which runs in an executor thread."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()

    def heartbeat(*details: Any) -> None:
        loop.call_soon_threadsafe(lambda: activity.heartbeat(*details), context=context)

    return heartbeat


def _call_inline(func: Any, input: Any, **_: Any) -> Any:
    """``@task`` called from a node body: the node is already durable, run it in place.

    An async task returns a task to await (the node is async); a sync task runs now.
    """
    args, kwargs = input
    if inspect.iscoroutinefunction(func):
        return asyncio.ensure_future(func(*args, **kwargs))
    try:
        value = func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - surfaced by .result()
        return _InlineFuture(error=exc)
    return _InlineFuture(value)


class _InlineFuture:
    """What ``@task`` calls return inside a node activity: the task already ran inline."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error

    def result(self, timeout: float | None = None) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    def __await__(self) -> Any:
        if False:  # pragma: no cover - makes this a generator
            yield
        return self.result()

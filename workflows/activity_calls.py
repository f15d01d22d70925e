"""Workflow code that calls node activities: a node's stand-in in the durable copy of a
graph (:class:`ActivityNode`, :class:`EntrypointNode` for the Functional API), the call
and how its result is replayed into LangGraph's loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph._internal._constants import (
    CONF,
    CONFIG_KEY_CALL,
    CONFIG_KEY_CHECKPOINT_NS,
    CONFIG_KEY_REPLAY_STATE,
    CONFIG_KEY_RESUME_MAP,
    CONFIG_KEY_RESUMING,
    CONFIG_KEY_RUNTIME,
    CONFIG_KEY_SCRATCHPAD,
    CONFIG_KEY_SEND,
    CONFIG_KEY_TASK_ID,
)
from langgraph.errors import GraphBubbleUp, GraphInterrupt, ParentCommand
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from tempograph.errors import ErrorCode, GraphLoadError
from tempograph.workflows import ids
from tempograph.workflows.policy import (
    NodePolicy,
)
from tempograph.workflows.types import NodeCall, NodeFailure, NodeResult
from tempograph.workflows.values import SHARED, PartTable, decode, encode, table_source

if TYPE_CHECKING:
    from tempograph.workflows.durable import DurableGraph


def _serializable_config(config: RunnableConfig) -> dict[str, Any]:
    """The parts of a task's config a node body may read, without LangGraph's live objects."""
    conf = {k: v for k, v in config.get(CONF, {}).items() if not k.startswith("__") and _plain(v)}
    return {
        "configurable": conf,
        "metadata": {k: v for k, v in (config.get("metadata") or {}).items() if _plain(v)},
        "tags": list(config.get("tags") or []),
        "recursion_limit": config.get("recursion_limit"),
        "run_name": config.get("run_name"),
    }


# What LangGraph's (1.2) scratchpad keeps in the closure of its get_null_resume.
_SCRATCHPAD_CELLS = {"null_resume_write", "pending_writes", "parent_scratchpad"}
_LANGGRAPH_GETTER = "_scratchpad.<locals>.get_null_resume"


def unconsumed_null_resume(scratchpad: Any) -> Any:
    """The run's answer without an interrupt id (``Command(resume=value)``) if no node has
    taken it yet: what ``interrupt()`` would get from the scratchpad.

    LangGraph's ``get_null_resume(consume=False)`` keeps returning the answer after a node
    consumed it (only ``consume=True`` looks at whether it is still pending); inside a
    subgraph the parent task's scratchpad outlives the step that consumed it, so a second
    ``interrupt()`` there would be handed the first one's answer. This reads the same
    state ``consume=True`` reads, without consuming: the pending write, at the first level
    of the scratchpad chain that holds one.
    """
    while scratchpad is not None:
        getter = scratchpad.get_null_resume
        cells = dict(
            zip(
                getattr(getattr(getter, "__code__", None), "co_freevars", ()),
                (c.cell_contents for c in getattr(getter, "__closure__", None) or ()),
                strict=False,
            )
        )
        if not _SCRATCHPAD_CELLS <= set(cells):
            if getattr(getter, "__qualname__", "") == _LANGGRAPH_GETTER:
                raise RuntimeError(
                    "LangGraph's scratchpad changed shape: tempograph.workflows."
                    "activity_calls.unconsumed_null_resume must be updated for it"
                )
            return getter(False)  # not LangGraph's own (ours, in tests): ask it
        write = cells["null_resume_write"]
        if write is not None:
            return write[2] if write in cells["pending_writes"] else None
        scratchpad = cells["parent_scratchpad"]
    return None


class HistoryFull(GraphBubbleUp):
    """Raised instead of scheduling a node when Temporal suggests the run continue as
    new (its history grew long). A bubble-up to LangGraph, like an interrupt: the
    superstep's tasks stop before they start, no error is recorded and no error handler
    runs; the run goes on from the superstep's checkpoint in a new execution."""


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


class ActivityNode(Runnable[Any, Any]):
    """A node body, run as the Temporal activity ``<graph>.<node>`` from the workflow."""

    def __init__(self, graph_id: str, activity_type: str, name: str, policy: NodePolicy) -> None:
        self.graph_id = graph_id
        self.activity_type = activity_type
        self.node_name = name
        self.policy = policy

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        raise RuntimeError(f"{self.activity_type} runs only inside a Tempograph workflow")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        assert config is not None
        return await run_activity(
            self.activity_type, self.node_name, "node", None, input, config, self.policy
        )


async def run_activity(
    activity_type: str,
    name: str,
    kind: str,
    task_ref: str | None,
    input: Any,
    config: RunnableConfig,
    policy: NodePolicy,
) -> Any:
    """Run one node or task attempt series as an activity and replay its effects here.

    The call carries the node's input as encoded parts (see
    :mod:`tempograph.workflows.values`), the stream events and the checkpoint rows the
    run made since the last activity (that activity writes them first), so neither
    streaming nor checkpointing costs a round trip of its own.
    """
    instance = workflow.instance()
    if getattr(instance, "stopping", False):
        # The run was asked to stop. Its cancel of LangGraph's loop can come too late for
        # the node it was awaiting (that activity's result had arrived: Temporal's SDK
        # gives the result, not the cancel), so no node starts after it.
        raise asyncio.CancelledError
    continuing = getattr(instance, "should_continue_as_new", None)
    if kind == "node" and continuing is not None and continuing():
        # Not for an entrypoint's @task: the entrypoint's own code could catch it.
        raise HistoryFull(f"{name}: continuing as new")
    conf = config.get(CONF, {})
    scratchpad = conf.get(CONFIG_KEY_SCRATCHPAD)
    runtime = conf.get(CONFIG_KEY_RUNTIME)
    null_resume = unconsumed_null_resume(scratchpad)
    table = PartTable()
    call = NodeCall(
        activity_type=activity_type,
        kind=kind,
        task_ref=task_ref,
        input=encode(input, table, memo=True, needed=True),
        config=_serializable_config(config),
        checkpoint_ns=conf.get(CONFIG_KEY_CHECKPOINT_NS, ""),
        task_id=conf.get(CONFIG_KEY_TASK_ID, ""),
        resume=list(scratchpad.resume) if scratchpad is not None else [],
        null_resume=null_resume,
        step=scratchpad.step if scratchpad is not None else 0,
        stop=scratchpad.stop if scratchpad is not None else 0,
        context=getattr(runtime, "context", None),
        previous=getattr(runtime, "previous", None),
        checkpoint_id=getattr(getattr(runtime, "execution_info", None), "checkpoint_id", ""),
        parts=table,
        local=policy.local,
        resuming=conf.get(CONFIG_KEY_RESUMING),
        resume_map=conf.get(CONFIG_KEY_RESUME_MAP),
        replay_checkpoint_id=getattr(conf.get(CONFIG_KEY_REPLAY_STATE), "checkpoint_id", None),
    )
    outbox = getattr(instance, "outbox", None)
    published = outbox.batch() if outbox is not None else None
    if published is not None:
        call.publish, events_parts = published
        call.stream = outbox.spec  # type: ignore[union-attr]
        table.merge(events_parts)
    saver = getattr(instance, "saver", None)
    persisted = saver.batch() if saver is not None else None
    if persisted is not None:
        call.persist, rows_parts = persisted
        table.merge(rows_parts)
    if saver is not None:
        table.drop_stored(saver.stored_parts)
        # What goes out with this call the codec stores as this workflow task completes
        # (if it does not complete, the workflow is replayed from its history): the nodes
        # scheduled beside this one (a fan-out) name those parts without carrying them
        # again, which made a fan-out's payloads grow with the square of its width.
        saver.stored_parts.update(h for h, part in table.parts.items() if part.data is not None)
    info = workflow.info()
    execute = workflow.execute_local_activity if policy.local else workflow.execute_activity
    try:
        result: NodeResult = await execute(
            activity_type,
            call,
            result_type=NodeResult,
            summary=f"{name} (step {call.step})",
            **policy.activity_options(info.task_queue),
        )
    except ActivityError as err:
        raise node_failure(name, err) from None
    ids.take_stamp(result.stamp)
    if outbox is not None:
        outbox.confirm(call.publish)
    if saver is not None:
        saver.confirm(call.persist)
        # The codec stored what went out, and what came back was stored by the activity's.
        saver.stored_parts.update(table.parts, result.parts.parts)
    source = table_source(result.parts)
    if result.consumed_null_resume and scratchpad is not None:
        scratchpad.get_null_resume(True)
    if result.writes and CONFIG_KEY_SEND in conf:
        conf[CONFIG_KEY_SEND](
            [(ch, decode(v, source, SHARED, remember=False)) for ch, v in result.writes]
        )
    if result.interrupts:
        raise GraphInterrupt(tuple(result.interrupts))
    if result.parent_command is not None:
        raise ParentCommand(result.parent_command)
    if result.output is None:
        return None
    # Not remembered: LangGraph's reducers may change these objects (give new messages ids).
    return decode(result.output, source, SHARED, remember=False)


def node_failure(name: str, err: ActivityError) -> NodeFailure:
    """The error a failed node raises in the workflow: node, error type and message."""
    cause = err.cause
    error_type = "ActivityError"
    message = str(err)
    if isinstance(cause, ApplicationError):
        error_type = cause.type or "ApplicationError"
        message = cause.message
    elif cause is not None:
        error_type = type(cause).__name__
        message = str(cause)
    return NodeFailure(name, error_type, message)


class EntrypointNode(Runnable[Any, Any]):
    """A Functional API entrypoint body, run in the workflow with ``@task`` calls as activities."""

    def __init__(self, durable: DurableGraph, bound: Runnable[Any, Any]) -> None:
        self.durable = durable
        self.bound = bound
        self._proxies: dict[Any, Callable[..., Any]] = {}

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        raise RuntimeError("durable entrypoints run only inside a Tempograph workflow")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        assert config is not None
        original_call = config[CONF][CONFIG_KEY_CALL]

        def call(
            func: Any, input: Any, *, retry_policy: Any = None, timeout: Any = None, **options: Any
        ) -> Any:
            proxy = self._proxy(func, retry_policy, timeout)
            options.pop("cache_policy", None)  # process-local caches break replay
            return original_call(proxy, input, retry_policy=None, timeout=None, **options)

        patched: RunnableConfig = {**config, CONF: {**config[CONF], CONFIG_KEY_CALL: call}}
        # LangGraph runs entrypoints untraced, which awaits the function without putting
        # the config in the context; @task calls read CONFIG_KEY_CALL from the context.
        token = var_child_runnable_config.set(patched)
        try:
            return await self.bound.ainvoke(input, patched, **kwargs)
        finally:
            var_child_runnable_config.reset(token)

    def _proxy(self, func: Any, retry_policy: Any, timeout: Any) -> Callable[..., Any]:
        key = (func, id(retry_policy), id(timeout))
        if key in self._proxies:
            return self._proxies[key]
        name = getattr(func, "__name__", type(func).__name__)
        module = getattr(func, "__module__", None)
        qualname = getattr(func, "__qualname__", None)
        if not module or not qualname or "<locals>" in qualname:
            raise GraphLoadError(
                self.durable.graph_id,
                f"task {name!r} must be defined at module level so any worker can find it",
                code=ErrorCode.GRAPH_NOT_DURABLE,
            )
        policy = self.durable.task_policy(name, retry_policy, timeout)
        activity_type = f"{self.durable.graph_id}.{name}"
        task_ref = f"{module}:{qualname}"

        async def proxy(*args: Any, **kwargs: Any) -> Any:
            from langgraph.config import get_config

            return await run_activity(
                activity_type, name, "task", task_ref, (args, kwargs), get_config(), policy
            )

        proxy.__name__ = name
        proxy.__qualname__ = qualname
        proxy.__module__ = module
        self._proxies[key] = proxy
        return proxy


def inline_executor(loop: asyncio.AbstractEventLoop) -> None:
    """Let ``loop.run_in_executor`` run sync callables inline (workflow loops have no threads).

    LangChain runs sync callbacks and a few sync helpers through the default executor;
    in a workflow those are pure functions and must run on the workflow thread.
    """

    def run_in_executor(executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        try:
            future.set_result(func(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            future.set_exception(exc)
        return future

    loop.run_in_executor = run_in_executor  # type: ignore[method-assign,assignment]


__all__ = ["ActivityNode", "EntrypointNode", "HistoryFull", "inline_executor", "run_activity"]

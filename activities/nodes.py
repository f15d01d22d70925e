"""The node activity: runs one node body (or ``@task``) of a registered graph.

One dynamic activity serves every ``<graph>.<node>`` activity type, so the Temporal UI
timeline reads like the graph. The node gets what LangGraph would give it: its input,
and the config LangGraph would build for the task (:mod:`tempograph.activities.node_config`).
For runs started through the API, the events the workflow produced so far are written
first, and chat model tokens and custom writes reach the run's event log while the node
runs (:mod:`tempograph.activities.events`). What the node does beyond returning a value
(resume bookkeeping of ``interrupt()``) is returned for the workflow to replay into
LangGraph's loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import random
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import (
    get_async_callback_manager_for_config,
    patch_config,
    var_child_runnable_config,
)
from langgraph._internal._constants import (
    CONF,
    CONFIG_KEY_SCRATCHPAD,
    CONFIG_KEY_SEND,
)
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphBubbleUp, GraphInterrupt, ParentCommand
from langgraph.func import _TaskFunction
from langgraph.store.base import BaseStore
from temporalio import activity
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from tempograph.activities.attempt import error_message, is_retryable
from tempograph.activities.events import NodeStream, Recorder
from tempograph.activities.node_config import node_config
from tempograph.activities.sandbox import SandboxCall, run_sandboxed
from tempograph.activities.watch import AttemptWatch
from tempograph.breakers import CIRCUIT_OPEN, Breaker, Breakers
from tempograph.checkpoints import PostgresCheckpointStore
from tempograph.temporal.determinism import checkpoint_uuid6, raise_floor
from tempograph.usage import Prices
from tempograph.valuestore import MAX_VALUE_BYTES
from tempograph.workflows.durable import ActivityTarget, DurableGraph
from tempograph.workflows.policy import NodePolicy
from tempograph.workflows.types import ErrorType, NodeCall, NodeResult
from tempograph.workflows.values import (
    MissingPart,
    PartTable,
    caches,
    decode,
    encode,
    table_source,
)


class NodeActivities:
    """Runs node bodies of the graphs this worker registered."""

    def __init__(
        self,
        graphs: dict[str, DurableGraph],
        recorder: Recorder | None = None,
        store: BaseStore | None = None,
        sandbox: bool = False,
        prices: Prices | None = None,
        breakers: Breakers | None = None,
    ) -> None:
        self._sandbox_all = sandbox  # `tempograph worker --sandbox`: every node
        self._breakers = breakers
        self._prices = prices or Prices()
        self._recorder = recorder
        self._store = store
        self._targets: dict[str, tuple[DurableGraph, ActivityTarget]] = {}
        self._graphs = graphs
        for durable in graphs.values():
            for activity_type, target in durable.targets.items():
                self._targets[activity_type] = (durable, target)

    async def _node_input(self, call: NodeCall) -> Any:
        """The node's input, decoded in its thread's partition (objects this node may
        change stay with its thread). The codec leaves its parts' bytes out: those the
        partition holds decoded are not fetched, the others come from the value store."""
        parts = call.parts.parts
        await self._fill(
            call,
            [h for h in parts if not caches().decoded.holds(call.thread_id, h)],
        )
        try:
            return decode(call.input, table_source(call.parts), call.thread_id)
        except MissingPart:
            # A decoded part left the cache meanwhile: fetch every byte still missing.
            await self._fill(call, list(parts))
            return decode(call.input, table_source(call.parts), call.thread_id)

    async def _fill(self, call: NodeCall, hashes: list[bytes]) -> None:
        """Put the bytes of the input's parts among ``hashes`` that it needs and lacks."""
        parts = call.parts.parts
        wanted = [h for h in hashes if parts[h].needed and parts[h].data is None]
        if wanted and self._recorder is not None:
            found = await self._recorder.values.get_many(wanted)
            for part_hash in wanted:
                parts[part_hash].data = found[part_hash]

    async def _checkpointer(self) -> BaseCheckpointSaver[Any] | None:
        """The thread checkpoints on Postgres (none without a recorder: unit tests)."""
        if self._recorder is None:
            return None
        return PostgresCheckpointStore(await self._recorder.pool(), self._recorder.values)

    async def _newest_checkpoint(self, call: NodeCall, attempt: int) -> str | None:
        """What checkpoints a graph the body invokes makes must sort after: the node's own
        checkpoint, or when it goes on from an earlier attempt or segment, the newest
        under its namespace (minted then on another worker's clock, maybe ahead)."""
        if self._recorder is None or not (call.resuming or attempt > 1):
            return call.checkpoint_id or None
        newest: str | None = await (await self._recorder.pool()).fetchval(
            "SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = $1"
            " AND (checkpoint_ns = $2 OR starts_with(checkpoint_ns, $2 || '|'))",
            call.thread_id,
            call.checkpoint_ns,
        )
        return max(filter(None, (newest, call.checkpoint_id)), default=None)

    @activity.defn(dynamic=True)
    async def execute_node(self, args: Sequence[RawValue]) -> NodeResult:
        """Execute the node named by the activity type; see the module docstring."""
        info = activity.info()
        call: NodeCall = activity.payload_converter().from_payload(args[0].payload, NodeCall)
        runnable, retry_on, policy = self._resolve(info.activity_type, call)
        result = NodeResult()
        stream: NodeStream | None = None
        if self._recorder is not None:
            await self._recorder.before_node(
                call, info.workflow_id or "", info.workflow_run_id or ""
            )
            if call.stream is not None:
                stream = NodeStream(self._recorder.publish, call.stream, call.task_id, info.attempt)
        node_input = await self._node_input(call)
        config = node_config(
            call, result, info.attempt, stream, self._store, await self._checkpointer()
        )
        raise_floor(await self._newest_checkpoint(call, info.attempt))
        watch = AttemptWatch(call.task_id, call.config.get("configurable", {}), self._prices)
        config["callbacks"] = [*(config.get("callbacks") or []), watch.usage]  # type: ignore[misc]
        activity.logger.debug("running %s attempt %d", info.activity_type, info.attempt)
        # LangGraph's RunnableSeq sets this around a node; interrupt(), get_config() and
        # get_stream_writer() read it. Each activity runs in its own asyncio task.
        var_child_runnable_config.set(config)
        beating = asyncio.ensure_future(_keep_heartbeating(watch.started_at.isoformat()))
        breaker = self._breaker_of(policy, info.task_queue)
        try:
            async with watch.watching(self._recorder):
                trial = False
                if breaker is not None:
                    trial = await self._admit(breaker)
                try:
                    done = await self._execute(
                        call, node_input, runnable, config, result, retry_on, policy
                    )
                except ApplicationError as error:  # the node failed (its error wrapped)
                    if breaker is not None:
                        await breaker.failed(error.__cause__ or error, trial=trial)
                    raise
                if breaker is not None:
                    await breaker.succeeded(trial=trial)
                watch.outcome = "interrupted" if done.interrupts else "ok"
                done.stamp = str(checkpoint_uuid6())
                return done
        finally:
            beating.cancel()
            if stream is not None:
                await stream.close()

    def _breaker_of(self, policy: NodePolicy, task_queue: str) -> Breaker | None:
        """The breaker guarding this node: its policy's, else its task queue's."""
        if self._breakers is None:
            return None
        name = policy.breaker or self._breakers.config.for_queue(task_queue)
        return None if name is None else Breaker(self._breakers, name)

    async def _admit(self, breaker: Breaker) -> bool:
        """Refuse the attempt, retryably, while the breaker is open (else: whether it is
        the half-open trial). Its next attempt is
        due when a trial may go through (spread by up to a tenth, so the runs waiting do
        not all ask at once): attempts are not spent while nothing can succeed."""
        admission = await breaker.admit()
        if not admission.admitted:
            wait = max(admission.retry_in, 0.1) * random.uniform(1.0, 1.1)
            raise ApplicationError(
                f"circuit breaker {breaker.name!r} is {admission.state.replace('_', '-')}:"
                f" not calling the dependency; next attempt in {wait:.1f} s",
                type=CIRCUIT_OPEN,
                next_retry_delay=timedelta(seconds=wait),
            )
        return admission.trial

    async def _execute(
        self,
        call: NodeCall,
        node_input: Any,
        runnable: Any,
        config: RunnableConfig,
        result: NodeResult,
        retry_on: Sequence[Any],
        policy: NodePolicy,
    ) -> NodeResult:
        writes: list[tuple[str, Any]] = []
        config[CONF][CONFIG_KEY_SEND] = writes.extend
        output: Any = None
        try:
            if call.kind == "task":
                output = await _in_node_run(
                    lambda _: _run_task(runnable, node_input), node_input, config
                )
            elif policy.sandbox or self._sandbox_all:
                output = await _in_node_run(
                    lambda child: self._sandboxed(call, node_input, child, policy, writes, result),
                    node_input,
                    config,
                )
            else:
                output = await _in_node_run(
                    lambda child: runnable.ainvoke(node_input, child), node_input, config
                )
        except GraphInterrupt as interrupt:
            result.interrupts = list(interrupt.args[0])
        except ParentCommand as command:
            result.parent_command = command.args[0]
        except GraphBubbleUp:
            raise
        except ApplicationError:
            raise
        except Exception as exc:
            retryable = is_retryable(exc, retry_on, policy.retry.non_retryable_error_types)
            raise ApplicationError(
                error_message(exc),
                type=type(exc).__name__,
                non_retryable=not retryable,
            ) from exc
        # Outputs go back as parts too: a tool that returns megabytes costs the history
        # a hash, not the megabytes.
        table = PartTable()
        result.output = encode(output, table) if output is not None else None
        result.writes = [(channel, encode(value, table)) for channel, value in writes]
        _check_sizes(table)
        result.parts = table
        return result

    async def _sandboxed(
        self,
        call: NodeCall,
        node_input: Any,
        config: RunnableConfig,
        policy: NodePolicy,
        writes: list[tuple[str, Any]],
        result: NodeResult,
    ) -> Any:
        """The node's attempt in a child process (:mod:`tempograph.activities.sandbox`);
        its output, its writes added to ``writes``, its interrupt or error raised here."""
        info = activity.info()
        durable, _ = self._targets[info.activity_type]
        source = durable.source
        if source is None:
            raise ApplicationError(
                f"{info.activity_type}: a sandboxed node's graph must be loaded from a file",
                type=ErrorType.UNKNOWN_NODE,
                non_retryable=True,
            )
        scratchpad = config[CONF][CONFIG_KEY_SCRATCHPAD]
        outcome = await run_sandboxed(
            SandboxCall(
                graph_id=durable.graph_id,
                path=str(source.path),
                attr=source.attr,
                defaults=dict(source.defaults),
                nodes={k: dict(v) for k, v in source.nodes.items()},
                dependencies=[p for p in sys.path if p],
                activity_type=info.activity_type,
                input=node_input,
                configurable=dict(call.config.get("configurable", {})),
                metadata=dict(config.get("metadata") or {}),
                tags=list(config.get("tags") or []),
                resume=list(call.resume),
                null_resume=call.null_resume,
                checkpoint_ns=call.checkpoint_ns,
                task_id=call.task_id,
                step=scratchpad.step,
                stop=scratchpad.stop,
                context=call.context,
                cpu_seconds=policy.sandbox_cpu_seconds,
                memory_mb=policy.sandbox_memory_mb,
            )
        )
        writes.extend(outcome.writes)
        if outcome.consumed_null_resume:
            result.consumed_null_resume = True
        if outcome.interrupts:
            raise GraphInterrupt(outcome.interrupts)
        if outcome.error_type is not None:
            raise ApplicationError(
                outcome.message, type=outcome.error_type, non_retryable=not outcome.retryable
            )
        return outcome.output

    def _resolve(self, activity_type: str, call: NodeCall) -> tuple[Any, Sequence[Any], NodePolicy]:
        if call.kind == "task":
            graph_id, _, name = activity_type.partition(".")
            if graph_id not in self._graphs:
                raise ApplicationError(
                    f"unknown graph for task {activity_type!r}",
                    type=ErrorType.UNKNOWN_GRAPH,
                    non_retryable=True,
                )
            task = _find_task(call.task_ref or "")
            rules = [p.retry_on for p in _policies(getattr(task, "retry_policy", None))]
            policy = self._graphs[graph_id].task_policies.get(
                name, self._graphs[graph_id].default_policy
            )
            return getattr(task, "func", task), rules, policy
        if activity_type not in self._targets:
            raise ApplicationError(
                f"this worker has no node {activity_type!r}",
                type=ErrorType.UNKNOWN_NODE,
                non_retryable=True,
            )
        _, target = self._targets[activity_type]
        return target.runnable, target.retry_on, target.policy


async def _in_node_run(
    body: Callable[[RunnableConfig], Awaitable[Any]], node_input: Any, config: RunnableConfig
) -> Any:
    """Run the node (``body``, given its config) inside a chain run named after it, as
    LangGraph's ``RunnableSeq`` does around a node in process: callback handlers see what
    they see there. LangGraph's ``messages`` stream emits the messages a node returns (a
    tool's result) at the end of that run (a sandboxed node's too: its output comes back
    here), and a tracer shows one run per node with the model's calls inside."""
    manager = get_async_callback_manager_for_config(config)
    name = config.get("run_name") or config.get("metadata", {}).get("langgraph_node")
    run = await manager.on_chain_start(None, node_input, name=name)
    child = patch_config(config, callbacks=run.get_child("seq:step:1"))
    token = var_child_runnable_config.set(child)
    try:
        output = await body(child)
    except BaseException as err:
        await run.on_chain_error(err)
        raise
    finally:
        var_child_runnable_config.reset(token)
    await run.on_chain_end(output)
    return output


async def _run_task(func: Any, input: Any) -> Any:
    args, kwargs = input
    if inspect.iscoroutinefunction(func):
        return await func(*args, **kwargs)
    context = contextvars.copy_context()
    return await asyncio.to_thread(context.run, func, *args, **kwargs)


async def _keep_heartbeating(started_at: str, every: float = 2.0) -> None:
    """Heartbeat while the node runs: a cancelled run's node hears of it and stops (Temporal
    delivers an activity's cancellation with its heartbeats; the SDK throttles them). The
    details say when the attempt started: a retry after a lost worker records it."""
    while True:
        await asyncio.sleep(every)
        activity.heartbeat(started_at)


def _find_task(task_ref: str) -> Any:
    """The ``@task`` function at ``module:qualname``, from an already-imported module only."""
    module_name, _, qualname = task_ref.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        raise ApplicationError(
            f"task {task_ref!r}: module {module_name!r} is not loaded on this worker",
            type=ErrorType.UNKNOWN_TASK,
            non_retryable=True,
        )
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part, None)
    # Only a function LangGraph's @task decorated: a payload must not name any callable.
    if not isinstance(target, _TaskFunction):
        raise ApplicationError(
            f"{task_ref!r} is not a @task of a loaded graph",
            type=ErrorType.UNKNOWN_TASK,
            non_retryable=True,
        )
    return target


def _policies(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    return value if isinstance(value, Sequence) else (value,)


def _check_sizes(table: PartTable) -> None:
    """A value the store refuses fails the node now, for good (a retry makes it again)."""
    for part in table.parts.values():
        if part.data is not None and len(part.data) > MAX_VALUE_BYTES:
            raise ApplicationError(
                f"the node produced a value of {len(part.data)} bytes; one value may be at"
                f" most {MAX_VALUE_BYTES} bytes",
                type=ErrorType.VALUE_TOO_LARGE,
                non_retryable=True,
            )


__all__ = ["NodeActivities"]

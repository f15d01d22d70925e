"""A durable copy of a compiled LangGraph graph: LangGraph's loop, node bodies as activities.

:func:`make_durable` is called once per graph when the worker registers it. It copies the
compiled graph (the user's object is never touched) and replaces each node's *body*
(``PregelNode.bound``) with :class:`ActivityNode`; the node's writers, its routers
(conditional edges) and the reducers stay in the copy and run in the workflow, as
LangGraph's own loop drives them. A compiled subgraph added as a node is made durable
the same way and runs in the workflow, so its nodes become activities too. A Functional
API entrypoint runs in the workflow and each ``@task`` it calls becomes an activity.

LangGraph-side retries and node timeouts are removed from the copy (they would read the
real clock in the workflow and stack on Temporal's retries); they are mapped onto the
node's Temporal activity policy instead (:mod:`tempograph.workflows.policy`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import var_child_runnable_config
from langgraph._internal._constants import (
    CONF,
    CONFIG_KEY_CALL,
    CONFIG_KEY_CHECKPOINT_NS,
    CONFIG_KEY_RUNTIME,
    CONFIG_KEY_SCRATCHPAD,
    CONFIG_KEY_SEND,
    CONFIG_KEY_TASK_ID,
)
from langgraph._internal._runnable import RunnableCallable
from langgraph.channels.delta import DeltaChannel
from langgraph.errors import GraphInterrupt, ParentCommand
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.pregel._utils import _is_executor_backed_afunc
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from tempograph.errors import ErrorCode, GraphLoadError
from tempograph.schemas import schema_from_hints
from tempograph.workflows.policy import (
    NodePolicy,
    apply_overrides,
    from_langgraph_retry,
    from_langgraph_timeout,
)
from tempograph.workflows.types import NodeCall, NodeFailure, NodeResult
from tempograph.workflows.values import SHARED, PartTable, decode, encode, table_source

AnyPregel = Pregel[Any, Any, Any, Any]

_ERROR_HANDLER_PREFIXES = ("__error_handler__", "__default_error_handler__")

# Node metadata key under which a node's Temporal policy is given.
POLICY_METADATA_KEY = "tempograph"


@dataclass
class ActivityTarget:
    """What a node activity runs: the original node body and how to judge its errors."""

    activity_type: str
    runnable: Runnable[Any, Any] | None
    retry_on: Sequence[Any] = ()
    policy: NodePolicy = field(default_factory=NodePolicy)


@dataclass
class DurableGraph:
    """A registered graph: the workflow-side copy and the activity-side targets."""

    graph_id: str
    original: AnyPregel
    workflow_graph: AnyPregel
    targets: dict[str, ActivityTarget] = field(default_factory=dict)
    task_policies: dict[str, NodePolicy] = field(default_factory=dict)
    default_policy: NodePolicy = field(default_factory=NodePolicy)
    task_queues: set[str] = field(default_factory=set)
    functional: bool = False
    input_schema: dict[str, Any] = field(default_factory=dict)
    # Where it was loaded from (a registry GraphSpec): a sandboxed node's process loads
    # it again from there.
    source: Any = None

    def task_policy(self, name: str, retry_policy: Any, timeout: Any) -> NodePolicy:
        policy = self.task_policies.get(name, self.default_policy)
        if retry_policy:
            policy = from_langgraph_retry(policy, _as_sequence(retry_policy))
        return from_langgraph_timeout(policy, timeout)


def _as_sequence(value: Any) -> Sequence[Any]:
    if value is None:
        return ()
    return value if isinstance(value, Sequence) else (value,)


def make_durable(
    graph_id: str,
    graph: AnyPregel,
    default_policy: NodePolicy | None = None,
    node_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> DurableGraph:
    """Build the durable form of ``graph``. Raises :class:`GraphLoadError` with the reason."""
    if not isinstance(graph, Pregel):
        raise GraphLoadError(
            graph_id,
            f"expected a compiled graph (StateGraph.compile() or @entrypoint), got "
            f"{type(graph).__name__}",
            code=ErrorCode.GRAPH_NOT_DURABLE,
        )
    durable = DurableGraph(
        graph_id=graph_id,
        original=graph,
        workflow_graph=graph,
        default_policy=default_policy or NodePolicy(),
    )
    overrides = dict(node_policies or {})
    durable.functional = not isinstance(graph, CompiledStateGraph) and _is_entrypoint(graph)
    durable.workflow_graph = _copy_graph(durable, graph, prefix=graph_id, overrides=overrides)
    durable.input_schema = _input_schema(graph)
    if durable.functional:
        for name, spec in overrides.items():
            durable.task_policies[name] = apply_overrides(
                durable.default_policy, spec, f"task {name!r}"
            )
            if durable.task_policies[name].task_queue:
                durable.task_queues.add(durable.task_policies[name].task_queue or "")
    elif overrides:
        raise GraphLoadError(graph_id, f"policies given for unknown nodes {sorted(overrides)}")
    return durable


def _input_schema(graph: AnyPregel) -> dict[str, Any]:
    """JSON schema of the graph input; per key from type hints where pydantic refuses
    the whole (``typing.TypedDict`` on Python < 3.12)."""
    try:
        return graph.get_input_jsonschema()
    except Exception:  # noqa: BLE001 - fall back to per-key schemas below
        pass
    return schema_from_hints(getattr(getattr(graph, "builder", None), "input_schema", None)) or {}


def _is_entrypoint(graph: AnyPregel) -> bool:
    # @entrypoint builds a plain AnyPregel with exactly one node, named after the function.
    return len(graph.nodes) == 1 and not isinstance(graph, CompiledStateGraph)


def _copy_graph(
    durable: DurableGraph, graph: AnyPregel, prefix: str, overrides: dict[str, Mapping[str, Any]]
) -> AnyPregel:
    nodes = {}
    _check_supported(durable, graph)
    for name, node in graph.nodes.items():
        node_prefix = f"{prefix}.{name}"
        bound = node.bound
        where = f"node {node_prefix[len(durable.graph_id) + 1 :]!r}"
        if name.startswith("__"):
            # LangGraph's own nodes (__start__ maps the input): pure, run in the workflow.
            new_bound: Runnable[Any, Any] = bound
        elif isinstance(bound, Pregel):
            # A compiled subgraph as a node: its loop runs in the workflow too.
            new_bound = _copy_graph(durable, bound, node_prefix, {})
        elif durable.functional:
            new_bound = _entrypoint_node(durable, name, bound)
        else:
            policy = _node_policy(durable.default_policy, node, where)
            if name in overrides:
                policy = apply_overrides(policy, overrides.pop(name), where)
            if policy.task_queue:
                durable.task_queues.add(policy.task_queue)
            durable.targets[node_prefix] = ActivityTarget(
                activity_type=node_prefix,
                runnable=bound,
                retry_on=[p.retry_on for p in _as_sequence(node.retry_policy)],
                policy=policy,
            )
            new_bound = ActivityNode(durable.graph_id, node_prefix, name, policy)
        # Caches are process-local: a cache hit in workflow code would schedule no
        # activity and then fail replay on any other worker.
        nodes[name] = node.copy(
            {"bound": new_bound, "retry_policy": None, "timeout": None, "cache_policy": None}
        )
    return graph.copy(
        {
            "nodes": nodes,
            "retry_policy": (),
            "checkpointer": None,
            "cache": None,
            "cache_policy": None,
        }
    )


def _check_supported(durable: DurableGraph, graph: AnyPregel) -> None:
    """Refuse, with the reason, what this engine cannot yet run faithfully."""
    handlers = sorted(n for n in graph.nodes if n.startswith(_ERROR_HANDLER_PREFIXES))
    if handlers:
        raise GraphLoadError(
            durable.graph_id,
            f"node error handlers ({handlers}) are not supported durably yet: they would "
            "run in the workflow and see the activity failure, not the node's exception",
            code=ErrorCode.GRAPH_NOT_DURABLE,
        )
    delta = sorted(k for k, c in graph.channels.items() if isinstance(c, DeltaChannel))
    if delta:
        raise GraphLoadError(
            durable.graph_id,
            f"channels {delta} are DeltaChannels, which rebuild state from older "
            "checkpoints' writes; a run here starts from the newest checkpoint only",
            code=ErrorCode.GRAPH_NOT_DURABLE,
        )


def _node_policy(default: NodePolicy, node: Any, where: str) -> NodePolicy:
    policy = from_langgraph_retry(default, _as_sequence(node.retry_policy))
    policy = from_langgraph_timeout(policy, node.timeout)
    spec = (node.metadata or {}).get(POLICY_METADATA_KEY)
    if spec is not None:
        policy = apply_overrides(policy, spec, where)
    return policy


def _entrypoint_node(
    durable: DurableGraph, name: str, bound: Runnable[Any, Any]
) -> Runnable[Any, Any]:
    if isinstance(bound, RunnableCallable) and (
        bound.afunc is None or _is_executor_backed_afunc(bound.afunc)
    ):
        raise GraphLoadError(
            durable.graph_id,
            f"entrypoint {name!r} is a sync function; a durable entrypoint runs in the "
            "workflow and must be 'async def' (its @task calls become activities)",
            code=ErrorCode.GRAPH_NOT_DURABLE,
        )
    return EntrypointNode(durable, bound)


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
    conf = config.get(CONF, {})
    scratchpad = conf.get(CONFIG_KEY_SCRATCHPAD)
    runtime = conf.get(CONFIG_KEY_RUNTIME)
    null_resume = scratchpad.get_null_resume(False) if scratchpad is not None else None
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
    )
    instance = workflow.instance()
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
    if outbox is not None:
        outbox.confirm(call.publish)
    if saver is not None:
        saver.confirm(call.persist)
    source = table_source(result.parts)
    if result.consumed_null_resume and scratchpad is not None:
        scratchpad.get_null_resume(True)
    if result.writes and CONFIG_KEY_SEND in conf:
        conf[CONFIG_KEY_SEND]([(ch, decode(v, source, SHARED)) for ch, v in result.writes])
    if result.interrupts:
        raise GraphInterrupt(tuple(result.interrupts))
    if result.parent_command is not None:
        raise ParentCommand(result.parent_command)
    return decode(result.output, source, SHARED) if result.output is not None else None


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


__all__ = [
    "ActivityNode",
    "ActivityTarget",
    "DurableGraph",
    "EntrypointNode",
    "inline_executor",
    "make_durable",
]

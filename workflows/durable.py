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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable
from langgraph._internal._runnable import RunnableCallable
from langgraph.channels.delta import DeltaChannel
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.pregel._utils import _is_executor_backed_afunc

from tempograph.errors import ErrorCode, GraphLoadError
from tempograph.schemas import schema_from_hints
from tempograph.workflows.activity_calls import ActivityNode, EntrypointNode
from tempograph.workflows.policy import (
    NodePolicy,
    apply_overrides,
    from_langgraph_retry,
    from_langgraph_timeout,
)

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


__all__ = ["ActivityNode", "ActivityTarget", "DurableGraph", "EntrypointNode", "make_durable"]

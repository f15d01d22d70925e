"""Inputs and outputs that cross the workflow/activity/client boundaries.

One dataclass per call so fields can be added compatibly. They travel through the
LangGraph-aware payload converter (:mod:`tempograph.temporal.converter`), so ``Any`` fields keep
their LangChain/LangGraph/pydantic/dataclass types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tempograph.workflows.saver import ThreadCheckpoints
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

# Workflow and update/signal/query names: stored in histories, never renamed.
THREAD_WORKFLOW = "ThreadWorkflow"
RUN_WORKFLOW = "RunWorkflow"
SUBMIT_RUN = "submit_run"
RESUME = "resume"
WAIT_RUN = "wait"
THREAD_STATE = "state"
RUN_PAUSED = "run_paused"
CANCEL_RUN = "cancel_run"
UPDATE_STATE = "update_state"
API_STATE = "api_state"
API_HISTORY = "api_history"
EXPORT_CHECKPOINTS = "export_checkpoints"
FINISH_RUN_ACTIVITY = "tempograph.finish_run"
WEBHOOK_WORKFLOW = "WebhookWorkflow"
WEBHOOK_ACTIVITY = "tempograph.webhook"

# Search attributes (registered by the dev server): find a thread's workflows in the UI.
THREAD_ID = SearchAttributeKey.for_keyword("ThreadId")
GRAPH_ID = SearchAttributeKey.for_keyword("GraphId")

# Run statuses, as LangGraph Server names them.
PENDING, RUNNING, SUCCESS, ERROR, INTERRUPTED = (
    "pending",
    "running",
    "success",
    "error",
    "interrupted",
)
# A run stopped by a cancel request (LangGraph Server reports it as "interrupted").
CANCELLED = "cancelled"
# A cancelled run whose writes were undone (LangGraph Server deletes the run).
ROLLBACK = "rollback"


@dataclass
class StreamSpec:
    """Where a run's events go: the API run (a segment of a RunWorkflow) and its modes."""

    run_id: str
    modes: list[str] = field(default_factory=lambda: ["values"])
    subgraphs: bool = False
    # POSTed the API run when its segment ends (checked for SSRF when the run was made).
    webhook: str | None = None


@dataclass
class WebhookDelivery:
    url: str
    run_id: str
    thread_id: str
    status: str
    values: Any = None
    error: dict[str, str] | None = None


@dataclass
class StreamEvent:
    """One SSE event: ``key`` makes a re-sent event (a retried activity) a no-op."""

    key: str
    event: str
    data: Any


@dataclass
class PublishBatch:
    """Events the workflow produced, written by the next activity (no extra round trip)."""

    run_id: str
    events: list[StreamEvent] = field(default_factory=list)


@dataclass
class RunEnd:
    """A segment of a run ended: what the finish activity writes to Postgres."""

    run_id: str
    thread_id: str
    status: str  # the API run status: success, error, interrupted (cancelled) or rollback
    thread_status: str  # idle, interrupted or error
    output: Any
    values: Any
    interrupts: dict[str, list[Any]]
    error: dict[str, str] | None
    events: list[StreamEvent] = field(default_factory=list)


@dataclass
class ResumeRequest:
    """The answer to a waiting run, and the API run that carries the resumed segment."""

    value: Any
    stream: StreamSpec | None = None


@dataclass
class CancelRequest:
    """Stop the run ``run_id`` (an API run id) on a thread."""

    run_id: str
    # Also undo what the run wrote: its checkpoints go, the thread is as before it.
    rollback: bool = False


@dataclass
class NodeCall:
    """One node (or ``@task``) execution, as the node activity receives it."""

    activity_type: str
    kind: str  # "node" or "task"
    task_ref: str | None
    input: Any
    config: dict[str, Any]
    checkpoint_ns: str
    task_id: str
    resume: list[Any] = field(default_factory=list)
    null_resume: Any = None
    step: int = 0
    stop: int = 0
    context: Any = None
    previous: Any = None
    checkpoint_id: str = ""
    publish: PublishBatch | None = None
    stream: StreamSpec | None = None


@dataclass
class NodeResult:
    """What a node body did: its return value and the effects the workflow replays."""

    output: Any = None
    writes: list[tuple[str, Any]] = field(default_factory=list)
    interrupts: list[Any] = field(default_factory=list)
    parent_command: Any = None
    consumed_null_resume: bool = False


class NodeFailure(ApplicationError):
    """A node failed for good (retries exhausted or non-retryable); fails its run."""

    def __init__(self, node: str, error_type: str, message: str) -> None:
        super().__init__(
            f"node {node!r} failed: {error_type}: {message}",
            node,
            error_type,
            message,
            type="NodeFailed",
            non_retryable=True,
        )
        self.node = node
        self.error_type = error_type
        self.error_message = message


@dataclass
class RunRequest:
    """A run on a thread, as the client submits it."""

    graph_id: str
    input: Any = None
    command: Any = None  # a langgraph Command (resume/update/goto) instead of input
    config: dict[str, Any] = field(default_factory=dict)
    context: Any = None
    run_id: str | None = None
    stream: StreamSpec | None = None
    interrupt_before: list[str] | str | None = None
    interrupt_after: list[str] | str | None = None
    # multitask_strategy "interrupt": cancel whatever runs or waits on the thread first;
    # "rollback": the same, and undo what the cancelled run wrote.
    interrupt_others: bool = False
    rollback_others: bool = False
    # Start this many seconds after the run's turn comes (LangGraph Server's after_seconds).
    after_seconds: float = 0


@dataclass
class RunInput:
    """What the thread hands a run: the request and the thread's checkpoints so far."""

    thread_id: str
    run_id: str
    request: RunRequest
    checkpoints: ThreadCheckpoints
    parent_workflow_id: str | None = None


@dataclass
class RunOutcome:
    """Where a run stands: finished, failed, or waiting at an interrupt."""

    run_id: str
    status: str
    values: Any = None
    interrupts: list[Any] = field(default_factory=list)
    error: dict[str, str] | None = None
    resumes: int = 0
    checkpoints: ThreadCheckpoints | None = None


@dataclass
class RunTicket:
    """The answer to a run submission: the run id, which is also its workflow id."""

    run_id: str
    thread_id: str
    # Queued runs dropped by multitask_strategy "interrupt".
    cancelled: list[str] = field(default_factory=list)


@dataclass
class ThreadState:
    """A thread's current state, as ``tempograph state`` prints it."""

    thread_id: str
    status: str
    values: Any
    next: list[str]
    interrupts: list[Any]
    checkpoint_id: str | None
    run_id: str | None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StateUpdate:
    """``update_state`` on a thread: values written as if ``as_node`` returned them."""

    values: Any
    as_node: str | None = None
    checkpoint_id: str | None = None
    # The graph, for a thread that has not run yet (from the thread's metadata).
    graph_id: str | None = None


@dataclass
class HistoryQuery:
    limit: int = 10
    before: str | None = None
    metadata: dict[str, Any] | None = None

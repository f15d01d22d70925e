"""The vocabulary shared by workflows, activities, the API and the CLI, and the records
that cross their boundaries.

One dataclass per call so fields can be added compatibly. They travel through the
LangGraph-aware payload converter (:mod:`tempograph.temporal.converter`), so ``Any``
fields keep their LangChain/LangGraph/pydantic/dataclass types. A record that carries
state values holds them as :class:`~tempograph.workflows.values.EncodedValue` and their
bytes in its ``parts`` table, which the codec stores once in Postgres: the history keeps
hashes, whatever the state's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ApplicationError

from tempograph.workflows.serde import register_records
from tempograph.workflows.values import EncodedValue, PartData, PartTable

# Workflow, activity, update, signal and query names: stored in histories, never renamed.
RUN_WORKFLOW = "RunWorkflow"
WEBHOOK_WORKFLOW = "WebhookWorkflow"
RESUME = "resume"
CANCEL_RUN = "cancel_run"
RUN_STATUS = "status"
FINISH_RUN_ACTIVITY = "tempograph.finish_run"
FLUSH_RUN_ACTIVITY = "tempograph.flush_run"
DEFAULT_ANSWER_ACTIVITY = "tempograph.answer_by_default"
WEBHOOK_ACTIVITY = "tempograph.webhook"

# Search attributes (registered by the dev server): find a thread's runs in the UI.
THREAD_ID = SearchAttributeKey.for_keyword("ThreadId")
GRAPH_ID = SearchAttributeKey.for_keyword("GraphId")
ASSISTANT_ID = SearchAttributeKey.for_keyword("AssistantId")
# The current segment's status, as the API shows its run ("waiting" while it waits at
# interrupt() for an answer): "RunStatus = 'error' AND GraphId = 'x'" in the Temporal UI.
STATUS_ATTRIBUTE = SearchAttributeKey.for_keyword("RunStatus")


class RunStatus(StrEnum):
    """An API run's status, as LangGraph Server names them."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"
    INTERRUPTED = "interrupted"  # cancelled (LangGraph Server's word for it)
    TIMEOUT = "timeout"

    @property
    def final(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


class SegmentEnd(StrEnum):
    """How a segment of a RunWorkflow ended (what the finish activity records)."""

    SUCCESS = "success"  # the graph ended, or stopped at an interrupt
    ERROR = "error"
    CANCELLED = "interrupted"  # a cancel request stopped it
    ROLLBACK = "rollback"  # cancelled and undone: its checkpoints and its run are deleted


class ThreadStatus(StrEnum):
    """A thread's status, as LangGraph Server names them (see :func:`thread_status`)."""

    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    ERROR = "error"


def thread_status(*, in_flight: bool, waiting: bool, failed: bool) -> ThreadStatus:
    """The one rule for a thread's status: busy while a run is pending or running; else
    interrupted while its state waits at an interrupt (or a breakpoint); else error when
    its last run failed; else idle."""
    if in_flight:
        return ThreadStatus.BUSY
    if waiting:
        return ThreadStatus.INTERRUPTED
    if failed:
        return ThreadStatus.ERROR
    return ThreadStatus.IDLE


class ErrorType(StrEnum):
    """``ApplicationError.type`` values Tempograph raises; the API maps them to HTTP."""

    NODE_FAILED = "NodeFailed"
    INVALID_REQUEST = "InvalidRequest"
    NOT_WAITING = "NotWaiting"
    UNKNOWN_GRAPH = "UnknownGraph"
    UNKNOWN_NODE = "UnknownNode"
    UNKNOWN_TASK = "UnknownTask"
    NO_DATABASE = "NoDatabase"
    RECURSION_LIMIT = "GraphRecursionError"
    WEBHOOK_REFUSED = "WebhookRefused"
    VALUE_TOO_LARGE = "ValueTooLarge"


class CancelReason(StrEnum):
    """Why a run is asked to stop (the ``cancel_run`` signal's value)."""

    CANCEL = "cancel"  # stop; keep what it wrote (multitask "interrupt", cancel)
    ROLLBACK = "rollback"  # stop and undo what the segment wrote
    SUPERSEDE = "supersede"  # a run waiting at an interrupt gives the thread up


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
    values: EncodedValue | None = None
    error: dict[str, str] | None = None
    parts: PartTable = field(default_factory=PartTable)


@dataclass
class StreamEvent:
    """One SSE event: ``key`` makes a re-sent event (a retried activity) a no-op. Small
    data is JSON-ready; a large payload (a ``values`` event) is an encoded value that
    the API renders when it serves the event."""

    key: str
    event: str
    data: Any = None
    value: EncodedValue | None = None


@dataclass
class PublishBatch:
    """Events the workflow produced, written by the next activity (no extra round trip)."""

    run_id: str
    events: list[StreamEvent] = field(default_factory=list)


@dataclass
class CheckpointRow:
    """One LangGraph checkpoint without its channel values (those are blobs)."""

    namespace: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: tuple[str, bytes]  # LangGraph-serialized, channel_values removed
    metadata: tuple[str, bytes]  # LangGraph-serialized


@dataclass
class BlobRow:
    """One version of one channel's value."""

    namespace: str
    channel: str
    version: str
    value: EncodedValue


@dataclass
class WriteRow:
    """A pending write of a task, against the checkpoint it ran from."""

    namespace: str
    checkpoint_id: str
    task_id: str
    index: int
    channel: str
    value: EncodedValue
    task_path: str = ""


@dataclass
class CheckpointBatch:
    """Checkpoint rows of one thread: written by activities, or loaded to start a run."""

    thread_id: str
    # The API run that wrote them (LangGraph's ``run_id`` metadata; rollback deletes by it).
    run_id: str | None = None
    checkpoints: list[CheckpointRow] = field(default_factory=list)
    blobs: list[BlobRow] = field(default_factory=list)
    writes: list[WriteRow] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.checkpoints or self.blobs or self.writes)

    def part_hashes(self) -> set[bytes]:
        found: set[bytes] = set()
        for blob in self.blobs:
            found.update(blob.value.part_hashes())
        for write in self.writes:
            found.update(write.value.part_hashes())
        return found


@dataclass
class RunEnd:
    """A segment of a run ended: what the finish activity writes to Postgres."""

    run_id: str | None  # the API run (segment); None: only give the thread up
    thread_id: str
    workflow_id: str
    status: SegmentEnd
    # The workflow ends with this segment: the thread is free for its next run.
    final: bool
    waiting: bool  # the thread's state waits at an interrupt or a breakpoint
    output: EncodedValue | None
    values: EncodedValue | None
    interrupts: dict[str, list[Any]]
    error: dict[str, str] | None
    events: list[StreamEvent] = field(default_factory=list)
    persist: CheckpointBatch | None = None
    execution: str = ""  # the Temporal run id of the execution that wrote this end
    parts: PartTable = field(default_factory=PartTable)
    local: bool = True  # a local activity's input: never in the history


@dataclass
class RunFlush:
    """What a run has not written yet when it continues as a new execution (its history
    grew long): its checkpoints and events, written as a node activity writes them."""

    run_id: str | None  # the API run (segment) the events belong to
    workflow_id: str
    execution: str
    events: list[StreamEvent] = field(default_factory=list)
    persist: CheckpointBatch | None = None
    parts: PartTable = field(default_factory=PartTable)
    local: bool = True  # a local activity's input: never in the history


@dataclass
class ResumeRequest:
    """The answer to a waiting run, and the API run that carries the resumed segment."""

    value: Any
    stream: StreamSpec | None = None
    # Given with the answer, as LangGraph's Command(resume=..., update=..., goto=...).
    update: Any = None
    goto: list[Any] = field(default_factory=list)

    @classmethod
    def of(cls, command: Any, stream: StreamSpec | None) -> ResumeRequest:
        """The answer a LangGraph ``Command`` with ``resume`` gives, update and goto too."""
        goto = command.goto
        targets = list(goto) if isinstance(goto, list | tuple) else [goto]
        return cls(command.resume, stream, command.update, targets)


@dataclass
class FinishOutcome:
    """What the finish activity found on the thread for a run stopping at an interrupt:
    a resume sent while the segment ran (continue with it now), or a new run waiting
    for the thread (give it up)."""

    resume: ResumeRequest | None = None
    release: bool = False


@dataclass
class RunState:
    """Where a RunWorkflow stands (the ``status`` query)."""

    status: str  # pending, running, waiting (at an interrupt) or done
    segment: str | None  # the API run it is serving
    interrupts: list[Any] = field(default_factory=list)


@dataclass
class NodeCall:
    """One node (or ``@task``) execution, as the node activity receives it."""

    # The activity fetches the bytes of the input's parts it has no decoded copy of; the
    # claim-check codec does not put them back (tempograph.temporal.converter.LAZY_KEY).
    fetches_parts: ClassVar[bool] = True

    activity_type: str
    kind: str  # "node" or "task"
    task_ref: str | None
    input: EncodedValue
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
    # Checkpoints the run made since the last confirmed write: this activity writes them.
    persist: CheckpointBatch | None = None
    parts: PartTable = field(default_factory=PartTable)
    local: bool = False  # run as a local activity: the call never reaches the history
    # For a graph the node body invokes itself, what LangGraph gives a task: whether the
    # run resumes, the answers by interrupt id, and the checkpoint a replay starts from.
    resuming: bool | None = None
    resume_map: dict[str, Any] | None = None
    replay_checkpoint_id: str | None = None

    @property
    def thread_id(self) -> str:
        return str(self.config.get("configurable", {}).get("thread_id", ""))


@dataclass
class NodeResult:
    """What a node body did: its return value and the effects the workflow replays."""

    output: EncodedValue | None = None
    writes: list[tuple[str, EncodedValue]] = field(default_factory=list)
    interrupts: list[Any] = field(default_factory=list)
    parent_command: Any = None
    consumed_null_resume: bool = False
    parts: PartTable = field(default_factory=PartTable)
    # A uuid6 the activity minted as it finished: what the workflow mints after this
    # result derives from it, so a reset mints it again (see workflows/ids.py).
    stamp: str | None = None


class NodeFailure(ApplicationError):
    """A node failed for good (retries exhausted or non-retryable); fails its run."""

    def __init__(self, node: str, error_type: str, message: str) -> None:
        super().__init__(
            f"node {node!r} failed: {error_type}: {message}",
            node,
            error_type,
            message,
            type=ErrorType.NODE_FAILED,
            non_retryable=True,
        )
        self.node = node
        self.error_type = error_type
        self.error_message = message

    def __repr__(self) -> str:
        # What LangGraph keeps of a failed task (the repr of its error): the node's own
        # error, as in process, not this wrapper.
        return f"{self.error_type}({self.error_message!r})"


@dataclass
class RunRequest:
    """A run on a thread, as the API hands it to the engine."""

    graph_id: str
    input: Any = None
    command: Any = None  # a langgraph Command (resume/update/goto) instead of input
    config: dict[str, Any] = field(default_factory=dict)
    context: Any = None
    stream: StreamSpec | None = None
    interrupt_before: list[str] | str | None = None
    interrupt_after: list[str] | str | None = None
    # Start this many seconds after the run's turn comes (LangGraph Server's after_seconds).
    after_seconds: float = 0
    assistant_id: str | None = None
    # LangGraph's durability ("sync", "async", "exit"; None: its default). With "exit"
    # only the run's last checkpoint is kept, and the run never continues as new (it
    # would have no newer checkpoint to go on from).
    durability: str | None = None


@dataclass
class RunInput:
    """What a RunWorkflow starts from: the request and the thread's checkpoints so far."""

    thread_id: str
    run_id: str  # the API run of the first segment; also the workflow id
    request: RunRequest
    start: CheckpointBatch
    parts: PartTable = field(default_factory=PartTable)
    # A run that continued as new (its history grew long) goes on in this execution:
    # from the thread's newest checkpoint, in the same segment, its stream already open.
    continued: bool = False
    # Where that segment started (a rollback returns the thread there), and the step
    # past which its loop stops (LangGraph's recursion limit, counted from its start).
    segment_start: str | None = None
    stop: int | None = None


register_records(
    StreamSpec,
    WebhookDelivery,
    StreamEvent,
    PublishBatch,
    CheckpointRow,
    BlobRow,
    WriteRow,
    CheckpointBatch,
    RunEnd,
    RunFlush,
    ResumeRequest,
    FinishOutcome,
    RunState,
    NodeCall,
    NodeResult,
    RunRequest,
    RunInput,
    EncodedValue,
    PartData,
    PartTable,
)

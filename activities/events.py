"""What runs did, written to Postgres by the workers: checkpoints, events, run ends.

Every event of an API run gets the next number of that run (``runs.event_seq``, bumped
in the same transaction as the insert, so numbers commit in order and a reader that has
seen event *n* never misses a smaller one later). Each event has a key; writing a key
again is a no-op, which is what makes retried activities and parallel nodes carrying
the same batch safe. Writers ``NOTIFY tempograph_runs`` with the run id so API replicas
wake their streams without polling. The bookkeeping itself (who holds a thread, who runs
next) is :mod:`tempograph.run_ends`; this module is where the workers call it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tempograph.audit import AuditLog, Entry
from tempograph.crypto import seal_json_text
from tempograph.database import open_pool
from tempograph.metrics import RUN_SECONDS, RUNS_FINISHED, RUNS_STARTED
from tempograph.run_ends import finish_segment, record_node, write_events
from tempograph.runs import NewRun, admit, runs_in_flight, stored_request
from tempograph.starter import RunStarter
from tempograph.valuestore import PostgresValueStore, ValueStore
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.types import (
    DEFAULT_ANSWER_ACTIVITY,
    FINISH_RUN_ACTIVITY,
    FLUSH_RUN_ACTIVITY,
    ErrorType,
    FinishOutcome,
    NodeCall,
    RunEnd,
    RunFlush,
    StreamEvent,
    StreamSpec,
)

logger = logging.getLogger(__name__)


class Recorder:
    """The worker's connection to the API's Postgres (opened on first use)."""

    def __init__(self, database_url: str | None, *, cache_bytes: int = 16 * 1024 * 1024) -> None:
        self._url = database_url
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self.values: ValueStore = PostgresValueStore(self.pool, cache_bytes)

    async def pool(self) -> asyncpg.Pool:
        if self._url is None:
            raise ApplicationError(
                "this worker has no DATABASE_URL, so it cannot keep checkpoints or run events;"
                " start it with the API's database",
                type=ErrorType.NO_DATABASE,
                non_retryable=True,
            )
        async with self._lock:
            if self._pool is None:
                self._pool = await open_pool(self._url, max_size=8)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def before_node(self, call: NodeCall, workflow_id: str, execution: str) -> None:
        """Write what the node's call carries, before the node runs: the run's new
        checkpoints, then its pending events (a client that sees an event can read the
        state it shows)."""
        if call.persist is None and call.stream is None:
            return
        pool = await self.pool()
        events = call.publish.events if call.publish is not None else []
        run_id = call.stream.run_id if call.stream is not None else None
        if call.publish is not None and run_id is not None and call.publish.run_id != run_id:
            run_id = call.publish.run_id
        async with pool.acquire() as conn:
            await record_node(conn, call.persist, run_id, events, workflow_id, execution)

    @activity.defn(name=FLUSH_RUN_ACTIVITY)
    async def flush_run(self, flush: RunFlush) -> None:
        """What a run has not written when it continues as new, as a node writes it."""
        pool = await self.pool()
        async with pool.acquire() as conn:
            await record_node(
                conn, flush.persist, flush.run_id, flush.events, flush.workflow_id, flush.execution
            )

    async def record_attempt(
        self, run_id: str, attempt: NodeAttempt, by_model: dict[str, Any]
    ) -> None:
        """One node attempt of a run: its times, outcome and error (the console's
        timeline), and its model usage added to the run's (:mod:`tempograph.usage`)."""
        pool = await self.pool()
        try:
            async with pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO node_attempts (run_id, task_id, attempt, node, started_at,"
                    " ended_at, outcome, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    " ON CONFLICT DO NOTHING",
                    UUID(run_id),
                    attempt.task_id,
                    attempt.attempt,
                    attempt.node,
                    attempt.started_at,
                    attempt.ended_at,
                    attempt.outcome,
                    seal_json_text(json.dumps(attempt.error)) if attempt.error else None,
                )
                if by_model:
                    await self._add_usage(conn, run_id, by_model)
        except asyncpg.ForeignKeyViolationError:
            pass  # the run was deleted meanwhile (or rolled back): nothing to add to
        except (asyncpg.PostgresError, OSError) as err:
            # What the attempt did is already decided; its record is for people, and a
            # database hiccup must not turn the node's outcome into another.
            logger.warning(
                "node attempt %s/%d not recorded: %s", attempt.node, attempt.attempt, err
            )

    @staticmethod
    async def _add_usage(conn: asyncpg.Connection, run_id: str, by_model: dict[str, Any]) -> None:
        await conn.executemany(
            "INSERT INTO run_usage AS u (run_id, model, calls, input_tokens, output_tokens,"
            " cost_usd) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id, model) DO UPDATE"
            " SET calls = u.calls + EXCLUDED.calls,"
            " input_tokens = u.input_tokens + EXCLUDED.input_tokens,"
            " output_tokens = u.output_tokens + EXCLUDED.output_tokens,"
            " cost_usd = CASE WHEN EXCLUDED.cost_usd IS NULL THEN u.cost_usd"
            " ELSE coalesce(u.cost_usd, 0) + EXCLUDED.cost_usd END",
            [
                (UUID(run_id), model, u.calls, u.input_tokens, u.output_tokens, u.cost_usd)
                for model, u in by_model.items()
            ],
        )

    async def publish(self, run_id: str, events: list[StreamEvent]) -> None:
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await write_events(conn, run_id, events)

    @activity.defn(name=DEFAULT_ANSWER_ACTIVITY)
    async def answer_by_default(
        self, thread_id: str, workflow_id: str, asked_in: str, value: Any, waited: float
    ) -> str | None:
        """The API run that carries a node policy's default answer to an interrupt nobody
        answered in time (``asked_in``: the run that stopped at it), admitted as a resume
        is (its events, status and audit trail like any run's); None if the thread has
        another run in flight meanwhile (a human's answer won). Idempotent: a retry finds
        the run it made."""
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            thread = await conn.fetchrow(
                "SELECT run_workflow_id FROM threads WHERE thread_id = $1 FOR UPDATE",
                UUID(thread_id),
            )
            key = f"deadline:{workflow_id}:{asked_in}"
            made = await conn.fetchval("SELECT run_id FROM runs WHERE idempotency_key = $1", key)
            if made is not None:
                return str(made)
            if thread is None or thread["run_workflow_id"] != workflow_id:
                return None
            busy = await runs_in_flight(conn, UUID(thread_id))
            earlier = await conn.fetchrow(
                "SELECT assistant_id, request, tenant_id FROM runs WHERE run_id = $1",
                UUID(asked_in),
            )
            if busy or earlier is None or earlier["request"] is None:
                return None
            run_id = uuid4()
            before = stored_request(earlier["request"])
            command = {"resume": value}
            request = dataclasses.replace(
                before,
                input=None,
                command=command,
                stream=StreamSpec(run_id=str(run_id)),
                after_seconds=0,
            )
            admission = await admit(
                conn,
                NewRun(
                    run_id=run_id,
                    thread_id=UUID(thread_id),
                    assistant_id=earlier["assistant_id"],
                    metadata={"answered_by": "deadline", "waited_seconds": waited},
                    kwargs={"command": command},
                    multitask_strategy="enqueue",
                    idempotency_key=key,
                    request=request,
                    resume=True,
                    tenant_id=earlier["tenant_id"] or None,
                    created_by="deadline",
                ),
            )
            if admission.resume_holder != workflow_id:
                raise ApplicationError(
                    f"thread {thread_id} is not waiting on {workflow_id}",
                    non_retryable=True,
                )
        # Audited as an answer is: by whom (the deadline), to what, with what value.
        await AuditLog(pool).append(
            Entry(
                actor="deadline",
                action="runs.default_answer",
                outcome=200,
                tenant_id=earlier["tenant_id"] or "",
                resource="threads",
                resource_id=thread_id,
                detail={"run_id": str(run_id), "resume": value, "waited": waited},
            )
        )
        RUNS_STARTED.labels(before.graph_id).inc()
        return str(run_id)

    @activity.defn(name=FINISH_RUN_ACTIVITY)
    async def finish_run(self, end: RunEnd) -> FinishOutcome:
        """The segment's checkpoints, last events, status and output, and the thread's
        new state, in one transaction: a stream that sees the final status has seen every
        event. When the workflow ends, its thread goes to the next queued run, started
        here."""
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            outcome, next_run = await finish_segment(conn, end)
            ended = None
            if end.run_id is not None:
                ended = await conn.fetchrow(
                    "SELECT graph_id, status, extract(epoch FROM now() - created_at) AS took"
                    " FROM runs WHERE run_id = $1",
                    UUID(end.run_id),
                )
        if ended is not None:
            graph = ended["graph_id"] or ""
            RUNS_FINISHED.labels(graph, ended["status"]).inc()
            RUN_SECONDS.labels(graph, ended["status"]).observe(float(ended["took"]))
        if next_run is not None:
            starter = RunStarter(activity.client(), pool, activity.info().task_queue)
            await starter.start(next_run)
        return outcome


@dataclass
class NodeAttempt:
    task_id: str
    attempt: int
    node: str
    started_at: datetime
    ended_at: datetime
    outcome: str  # ok, interrupted, retrying, failed, cancelled, lost
    error: dict[str, str] | None = None


class NodeStream:
    """Events a node body produces while it runs (chat model tokens, custom writes).

    Callbacks may come from an executor thread (sync nodes); a flusher task on the
    activity's loop writes them in small batches. A message's chunks are keyed by the
    message's id and their position in it, so a retry that streams the same message (a
    model or cache that gives its answer a stable id) does not show it twice. A retry's
    new message (a new id: LangChain gives each model call its own) and its other events
    are keyed by attempt and shown in full, as LangGraph shows a retried node's in-process:
    never spliced onto what the failed attempt showed.
    """

    def __init__(
        self,
        publish: Callable[[str, list[StreamEvent]], Awaitable[None]],
        spec: StreamSpec,
        task_id: str,
        attempt: int,
    ) -> None:
        self._publish = publish
        self.spec = spec
        self._task_id = task_id
        self._attempt = attempt
        self._pending: list[StreamEvent] = []
        self._count = 0
        self._chunks: dict[str, int] = {}  # chunks so far per message id and namespace
        self._lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._closed = False
        self._task = asyncio.ensure_future(self._flusher())

    def wants(self, mode: str) -> bool:
        if mode == "messages":
            return bool({"messages", "messages-tuple"} & set(self.spec.modes))
        return mode in self.spec.modes

    def put(self, chunk: tuple[tuple[str, ...], str, Any]) -> None:
        """A LangGraph stream chunk ``(namespace, mode, payload)``, from any thread."""
        namespace, mode, payload = chunk
        if not self.wants(mode) or (namespace and not self.spec.subgraphs):
            return
        data = to_jsonable(list(payload) if mode == "messages" else payload)
        event = "|".join((mode, *namespace))
        message = data[0] if mode == "messages" and data and isinstance(data[0], dict) else {}
        message_id = message.get("id")
        with self._lock:
            if isinstance(message_id, str) and message_id:
                of = f"{event}|{message_id}"
                self._chunks[of] = self._chunks.get(of, 0) + 1
                key = f"n:{self._task_id}:m:{self._chunks[of]}:{of}"
            else:
                self._count += 1
                key = f"n:{self._task_id}:{self._attempt}:{self._count}"
            self._pending.append(StreamEvent(key, event, data))
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _flusher(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            await self._publish(self.spec.run_id, batch)

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        try:
            await self._task
        finally:
            await self._flush()

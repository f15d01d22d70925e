"""Crash safety with the default node policy: runs survive a killed worker, a stopped
worker, a restarted server, and a restart while they wait at an interrupt.

Workers run as ``tempograph worker`` subprocesses with ``tests/graphs/crash_langgraph.json``,
which sets no policy: what a user gets. Each node of ``tests/graphs/crash_chain.py``
appends ``start <node> <pid>`` and ``finish <node> <pid>`` to a ledger file, which counts
how often node bodies really ran, and where. The API runs in the test's process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from temporalio.client import Client

from tempograph.errors import TempographError
from tempograph.registry import load_project, read_config
from tempograph.temporal.codec import data_converter
from tempograph.temporal.devserver import DevServer
from tempograph.valuestore import ValueStore
from tempograph.workflows.jsonable import to_jsonable
from tests.conftest import ROOT, TEST_GRAPHS, free_port, load_test_graph, running_stack
from tests.engine import Outcome, Threads, ThreadView
from tests.integration.api_server import serving
from tests.integration.history import attempts_by_node, node_executions

pytestmark = pytest.mark.slow

T = TypeVar("T")

CONFIG = TEST_GRAPHS / "crash_langgraph.json"
TEMPOGRAPH = ROOT / ".venv" / "bin" / "tempograph"
CHAIN = ["n1", "n2", "n3", "n4", "n5"]
CHAIN_INPUT = {"value": 1}
# Bounds on waits; generous because the machine is shared and slow.
STARTUP_BOUND = 180.0
RUN_BOUND = 240.0
# With the default heartbeat timeout (10 s) a dead worker's node is retried within
# seconds; without it, only when its 300 s start-to-close timeout runs out. The test
# bound sits between the two, so it tells them apart; the measured time is printed.
RECOVERY_BOUND = 60.0


# -- helpers ---------------------------------------------------------------------------


def ledger_lines(path: Path) -> list[tuple[str, str, int]]:
    """``(event, node, pid)`` per ledger line."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [(w[0], w[1], int(w[2])) for w in (line.split() for line in lines) if w]


def ledger_counts(path: Path) -> Counter[tuple[str, str]]:
    """``(event, node) -> count`` from the ledger."""
    return Counter((event, node) for event, node, _ in ledger_lines(path))


async def until(predicate: Callable[[], bool], what: str, bound: float) -> None:
    """Wait until ``predicate()`` holds; fail saying ``what`` did not happen within ``bound``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {bound}s")
        await asyncio.sleep(0.05)


async def retrying(call: Callable[[], Awaitable[T]], what: str, bound: float) -> T:
    """``await call()``, retrying while a server is unreachable or not back yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while True:
        remaining = deadline - loop.time()
        try:
            return await asyncio.wait_for(call(), max(remaining, 0.1))
        except (TempographError, httpx.HTTPError, RuntimeError) as err:
            if loop.time() > deadline:
                raise AssertionError(f"{what} kept failing for {bound}s: {err!r}") from err
            await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"{what} did not answer within {bound}s") from None


class WorkerProcess:
    """A ``tempograph worker`` subprocess serving ``crash_langgraph.json`` on one queue."""

    def __init__(self, logs: Path, name: str, env: dict[str, str]) -> None:
        self.out = logs / f"{name}.out"
        self.err = logs / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [str(TEMPOGRAPH), "worker", "--config", str(CONFIG)],
                stdout=out,
                stderr=err,
                env={**os.environ, **env},
                cwd=ROOT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker exited with {self.process.returncode}: "
                f"{self.err.read_text(errors='replace')[-3000:]}"
            )
        return "ready" in self.out.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown code runs in the worker."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


class Workers:
    """Worker subprocesses on one queue; every one is stopped at the end."""

    def __init__(self, logs: Path, address: str, queue: str, database_url: str) -> None:
        self.logs = logs
        self.env = {
            "TEMPORAL_ADDRESS": address,
            "TEMPOGRAPH_TASK_QUEUE": queue,
            "DATABASE_URL": database_url,
        }
        self.started: list[WorkerProcess] = []

    async def start(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.logs, f"worker{len(self.started)}", {**self.env, **env})
        self.started.append(worker)
        await until(worker.is_ready, f"worker {len(self.started)} printing 'ready'", STARTUP_BOUND)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()


@contextmanager
def workers_on(logs: Path, address: str, queue: str, database_url: str) -> Iterator[Workers]:
    workers = Workers(logs, address, queue, database_url)
    try:
        yield workers
    finally:
        workers.stop_all()


@asynccontextmanager
async def api_for(dev_server: DevServer, database_url: str, queue: str) -> AsyncIterator[Threads]:
    graphs, failed = load_project(read_config(CONFIG))
    assert not failed, failed
    async with serving(dev_server, database_url, graphs, task_queue=queue) as http:
        yield Threads(http)


async def chain_oracle(monkeypatch: pytest.MonkeyPatch) -> Any:
    """What plain LangGraph returns for the chain (no ledger, no sleep)."""
    with monkeypatch.context() as patch:
        patch.delenv("CRASH_LEDGER", raising=False)
        patch.setenv("CRASH_SLOW_SECONDS", "0")
        graph = load_test_graph("crash_chain", "crash_chain.py:graph").original
        return to_jsonable(await graph.ainvoke(CHAIN_INPUT))


async def n3_runner(ledger: Path, *workers: WorkerProcess) -> WorkerProcess:
    """The worker that runs n3, once n3 has started."""
    await until(lambda: ledger_counts(ledger)["start", "n3"] == 1, "n3 starting", RUN_BOUND)
    (running,) = [pid for event, node, pid in ledger_lines(ledger) if node == "n3"]
    return next(worker for worker in workers if worker.pid == running)


def assert_chain_ran_once_except_n3(counts: Counter[tuple[str, str]]) -> None:
    for node in ["n1", "n2", "n4", "n5"]:
        assert counts["start", node] == 1, (node, counts)
        assert counts["finish", node] == 1, (node, counts)


# -- 1. a worker killed in the middle of a node -------------------------------------------


async def test_a_killed_workers_node_is_retried_on_another_worker_within_seconds(
    client: Client,
    dev_server: DevServer,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two workers, default policy. SIGKILL the one running n3: the other retries n3 after
    the heartbeat timeout (not the 300 s start-to-close), n1-n2 never run again, and the
    run ends as plain LangGraph's does."""
    expected = await chain_oracle(monkeypatch)
    ledger = tmp_path / "ledger.txt"
    queue = f"crash-{uuid.uuid4()}"
    thread = f"t-{uuid.uuid4()}"
    env = {"CRASH_LEDGER": str(ledger), "CRASH_SLOW_SECONDS": "120"}
    with workers_on(tmp_path, dev_server.address, queue, postgres_url) as workers:
        first = await workers.start(**env)
        second = await workers.start(**{**env, "CRASH_SLOW_SECONDS": "1"})
        async with api_for(dev_server, postgres_url, queue) as threads:
            ticket = await threads.submit(thread, "crash_chain", CHAIN_INPUT)
            victim = await n3_runner(ledger, first, second)
            survivor = second if victim is first else first
            victim.kill()
            killed_at = time.monotonic()
            await until(
                lambda: ledger_counts(ledger)["start", "n3"] == 2, "n3 retried", RECOVERY_BOUND
            )
            recovered_in = time.monotonic() - killed_at
            outcome = await asyncio.wait_for(threads.wait(thread, ticket.run_id), RUN_BOUND)

    print(f"n3 retried {recovered_in:.1f} s after its worker was killed")
    assert outcome.status == "success", outcome
    assert outcome.values == expected
    lines = ledger_lines(ledger)
    assert [pid for event, node, pid in lines if node == "n3"] == [
        victim.pid,
        survivor.pid,
        survivor.pid,
    ]
    counts = ledger_counts(ledger)
    assert_chain_ran_once_except_n3(counts)
    assert counts["finish", "n3"] == 1, counts
    attempts = attempts_by_node(await node_executions(client, ticket.workflow_id))
    assert attempts == Counter({f"crash_chain.{n}": 1 for n in CHAIN} | {"crash_chain.n3": 2})
    # The run's timeline (/attempts) shows the killed attempt too, as lost, before the retry.
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch(
            "SELECT attempt, outcome, started_at, ended_at FROM node_attempts"
            " WHERE run_id = $1 AND node = 'n3' ORDER BY attempt",
            uuid.UUID(ticket.run_id),
        )
    finally:
        await conn.close()
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, "lost"), (2, "ok")]
    assert rows[0]["started_at"] < rows[0]["ended_at"] <= rows[1]["started_at"]


async def test_a_stopped_worker_lets_its_node_finish_and_takes_no_more(
    client: Client,
    dev_server: DevServer,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM while n3 runs: the worker stops taking tasks, finishes n3 (its graceful
    shutdown), and exits; the other worker runs the rest. No node runs twice."""
    expected = await chain_oracle(monkeypatch)
    ledger = tmp_path / "ledger.txt"
    queue = f"drain-{uuid.uuid4()}"
    thread = f"t-{uuid.uuid4()}"
    env = {"CRASH_LEDGER": str(ledger), "CRASH_SLOW_SECONDS": "3"}
    with workers_on(tmp_path, dev_server.address, queue, postgres_url) as workers:
        first = await workers.start(**env)
        second = await workers.start(**env)
        async with api_for(dev_server, postgres_url, queue) as threads:
            ticket = await threads.submit(thread, "crash_chain", CHAIN_INPUT)
            draining = await n3_runner(ledger, first, second)
            os.kill(draining.pid, signal.SIGTERM)
            assert await asyncio.to_thread(draining.process.wait, 60) == 0
            outcome = await asyncio.wait_for(threads.wait(thread, ticket.run_id), RUN_BOUND)

    assert outcome.status == "success", outcome
    assert outcome.values == expected
    counts = ledger_counts(ledger)
    assert_chain_ran_once_except_n3(counts)
    assert counts["start", "n3"] == counts["finish", "n3"] == 1, counts
    # The drained worker finished n3 and ran nothing after it.
    after = [(e, n) for e, n, pid in ledger_lines(ledger) if pid == draining.pid]
    assert after[-1] == ("finish", "n3")


async def test_a_stopped_workers_node_past_its_grace_never_runs_twice_at_once(
    client: Client,
    dev_server: DevServer,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM while n3 (a sync node) runs longer than the grace period: the worker exits
    at the grace, with n3, and only then does the other worker retry n3 (its heartbeat
    timeout). Cancelling n3 had Temporal retry it at once while its thread ran on."""
    expected = await chain_oracle(monkeypatch)
    ledger = tmp_path / "ledger.txt"
    queue = f"grace-{uuid.uuid4()}"
    thread = f"t-{uuid.uuid4()}"
    # A short grace: what this test is about is its end (the default is 30 s).
    env = {
        "CRASH_LEDGER": str(ledger),
        "CRASH_SLOW_SECONDS": "8",
        "TEMPOGRAPH_GRACEFUL_SHUTDOWN_SECONDS": "2",
    }
    with workers_on(tmp_path, dev_server.address, queue, postgres_url) as workers:
        first = await workers.start(**env)
        second = await workers.start(**env)
        async with api_for(dev_server, postgres_url, queue) as threads:
            ticket = await threads.submit(thread, "crash_chain", CHAIN_INPUT)
            stopped = await n3_runner(ledger, first, second)
            os.kill(stopped.pid, signal.SIGTERM)
            code = await asyncio.to_thread(stopped.process.wait, 60)
            started_by_then = ledger_counts(ledger)["start", "n3"]
            outcome = await asyncio.wait_for(threads.wait(thread, ticket.run_id), RUN_BOUND)

    assert code != 0  # it did not finish its node
    assert "after the stop signal" in stopped.err.read_text(errors="replace")
    assert started_by_then == 1  # no second copy of n3 while the first one ran
    assert outcome.status == "success", outcome
    assert outcome.values == expected
    counts = ledger_counts(ledger)
    assert_chain_ran_once_except_n3(counts)
    assert counts["start", "n3"] == 2 and counts["finish", "n3"] == 1, counts


# -- 2. the Temporal server stopped and restarted mid-run --------------------------------


@asynccontextmanager
async def own_server(data_dir: Path, port: int) -> AsyncIterator[list[DevServer]]:
    """A dev server of this test's own; the list holds every incarnation, all stopped on exit."""
    servers = [DevServer(data_dir, port=port, ui_port=None)]
    try:
        await servers[0].start()
        yield servers
    finally:
        for server in servers:
            server.stop()


async def test_run_completes_after_server_stop_and_restart(
    postgres_url: str, values: ValueStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server goes down while n3 runs and comes back on its SQLite file: the run
    finishes, with the default policy."""
    expected = await chain_oracle(monkeypatch)
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("CRASH_LEDGER", str(ledger))
    monkeypatch.setenv("CRASH_SLOW_SECONDS", "120")
    graphs = {"crash_chain": load_test_graph("crash_chain", "crash_chain.py:graph")}
    data_dir, port = tmp_path / "temporal", free_port()
    async with own_server(data_dir, port) as servers:
        own_client = await Client.connect(servers[0].address, data_converter=data_converter(values))
        async with running_stack(servers[0], own_client, postgres_url, graphs) as stack:
            thread = stack.new_thread()
            ticket = await stack.threads.submit(thread, "crash_chain", CHAIN_INPUT)
            await until(lambda: ledger_counts(ledger)["start", "n3"] == 1, "n3 starting", RUN_BOUND)

            servers[0].stop()
            assert servers[0].process is not None and servers[0].process.poll() is not None
            # n3 is still sleeping, so the run cannot have finished before the server went.
            assert ledger_counts(ledger)["finish", "n3"] == 0

            servers.append(DevServer(data_dir, port=port, ui_port=None))
            await servers[1].start()
            monkeypatch.setenv("CRASH_SLOW_SECONDS", "0")  # let n3 (whichever attempt) end

            outcome: Outcome = await retrying(
                lambda: stack.threads.wait(thread, ticket.run_id),
                "waiting for the run",
                RUN_BOUND,
            )
            state: ThreadView = await retrying(
                lambda: stack.threads.state(thread), "thread state", RUN_BOUND
            )

    assert outcome.status == "success", outcome
    assert outcome.values == expected
    assert state.values == expected
    counts = ledger_counts(ledger)
    assert_chain_ran_once_except_n3(counts)
    assert 1 <= counts["start", "n3"] <= 2, counts
    assert 1 <= counts["finish", "n3"] <= counts["start", "n3"], counts


# -- 3. a run waiting at interrupt() while its worker is killed ---------------------------

APPROVAL_INPUT = {"request": "deploy v2"}
# The first answer is keyed by interrupt id (a resume map), the others are plain values.
ANSWERS: list[Any] = [{"approved": True}, "alice", "ship it"]


async def approval_oracle() -> tuple[list[list[Any]], Any]:
    """Interrupt values seen before each answer, and the final values, from plain LangGraph."""
    original = load_test_graph("approval", "approval.py:graph").original
    graph = original.copy({"checkpointer": InMemorySaver()})
    config: Any = {"configurable": {"thread_id": f"oracle-{uuid.uuid4()}"}}
    await graph.ainvoke(APPROVAL_INPUT, config)
    asked: list[list[Any]] = []
    for index, answer in enumerate(ANSWERS):
        snapshot = await graph.aget_state(config)
        asked.append([to_jsonable(i.value) for i in snapshot.interrupts])
        resume = {snapshot.interrupts[0].id: answer} if index == 0 else answer
        await graph.ainvoke(Command(resume=resume), config)
    final = await graph.aget_state(config)
    assert not final.interrupts and not final.next
    return asked, to_jsonable(final.values)


async def test_interrupt_survives_worker_kill_and_resumes_by_its_id_on_new_worker(
    dev_server: DevServer, postgres_url: str, tmp_path: Path
) -> None:
    """Killed while waiting at interrupt(): the new worker replays the run, the interrupt
    keeps its id (a resume keyed by it is accepted) and the run ends as LangGraph's does."""
    asked, expected = await approval_oracle()
    queue = f"crash-{uuid.uuid4()}"
    thread = f"t-{uuid.uuid4()}"
    with workers_on(tmp_path, dev_server.address, queue, postgres_url) as workers:
        first = await workers.start()
        async with api_for(dev_server, postgres_url, queue) as threads:
            ticket = await threads.submit(thread, "approval", APPROVAL_INPUT)
            outcome = await asyncio.wait_for(threads.wait(thread, ticket.run_id), RUN_BOUND)
            assert outcome.status == "interrupted", outcome
            assert [i["value"] for i in outcome.interrupts] == asked[0]
            before = await threads.state(thread)
            assert before.status == "interrupted"
            assert before.interrupts == outcome.interrupts
            assert all(i["id"] for i in before.interrupts)

            first.kill()
            await workers.start()
            after = await retrying(
                lambda: threads.state(thread), "thread state on the new worker", RUN_BOUND
            )
            assert after.interrupts == before.interrupts
            assert after.checkpoint_id == before.checkpoint_id

            pending = before.interrupts
            for index, answer in enumerate(ANSWERS):
                value = {pending[0]["id"]: answer} if index == 0 else answer
                waiting = await asyncio.wait_for(threads.resume(thread, value), RUN_BOUND)
                # The same RunWorkflow, replayed on the new worker, takes the answer.
                assert waiting.workflow_id == ticket.workflow_id
                outcome = await asyncio.wait_for(threads.wait(thread, waiting.run_id), RUN_BOUND)
                if index + 1 < len(ANSWERS):
                    assert outcome.status == "interrupted", (index, outcome)
                    assert [i["value"] for i in outcome.interrupts] == asked[index + 1]
                    pending = outcome.interrupts
            final = await threads.state(thread)

    assert outcome.status == "success", outcome
    assert outcome.values == expected
    assert final.values == expected
    assert final.interrupts == [] and final.next == []

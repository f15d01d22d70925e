"""Crash safety: runs survive a killed worker, a restarted server, and a restart at an interrupt.

Workers run as ``tempograph worker`` subprocesses so they can be killed with SIGKILL. Each
node of ``tests/graphs/crash_chain.py`` appends ``start <node>`` and ``finish <node>`` to a
ledger file, which counts how often node bodies really ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from temporalio.client import Client
from temporalio.service import RPCError

from tempograph.temporal.client import Threads
from tempograph.temporal.converter import DATA_CONVERTER
from tempograph.temporal.devserver import DevServer
from tempograph.workflows.jsonable import to_jsonable
from tempograph.workflows.types import RunOutcome, RunRequest, ThreadState
from tests.conftest import ROOT, TEST_GRAPHS, free_port, load_test_graph, running_worker
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


# -- helpers ---------------------------------------------------------------------------


def ledger_counts(path: Path) -> Counter[tuple[str, str]]:
    """``(event, node) -> count`` from the ledger (``start n3 <pid>`` lines)."""
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter((line.split()[0], line.split()[1]) for line in lines if line.strip())


async def until(predicate: Callable[[], bool], what: str, bound: float) -> None:
    """Wait until ``predicate()`` holds; fail saying ``what`` did not happen within ``bound``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {bound}s")
        await asyncio.sleep(0.05)


async def retrying(call: Callable[[], Awaitable[T]], what: str, bound: float) -> T:
    """``await call()``, retrying while Temporal is unreachable or the worker not back yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while True:
        remaining = deadline - loop.time()
        try:
            return await asyncio.wait_for(call(), max(remaining, 0.1))
        except (RPCError, RuntimeError) as err:
            if loop.time() > deadline:
                raise AssertionError(f"{what} kept failing for {bound}s: {err!r}") from err
            await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"{what} did not answer within {bound}s") from None


class WorkerProcess:
    """A ``tempograph worker`` subprocess serving ``crash_langgraph.json`` on one queue."""

    def __init__(
        self, logs: Path, name: str, address: str, queue: str, env: dict[str, str]
    ) -> None:
        self.out = logs / f"{name}.out"
        self.err = logs / f"{name}.err"
        full_env = {
            **os.environ,
            **env,
            "TEMPORAL_ADDRESS": address,
            "TEMPOGRAPH_TASK_QUEUE": queue,
        }
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [str(TEMPOGRAPH), "worker", "--config", str(CONFIG)],
                stdout=out,
                stderr=err,
                env=full_env,
                cwd=ROOT,
                start_new_session=True,
            )

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
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def worker_processes() -> Iterator[list[WorkerProcess]]:
    """A list to put started workers in; every one of them is stopped on exit."""
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


async def start_worker(
    started: list[WorkerProcess], logs: Path, address: str, queue: str, env: dict[str, str]
) -> WorkerProcess:
    worker = WorkerProcess(logs, f"worker{len(started)}", address, queue, env)
    started.append(worker)
    await until(worker.is_ready, f"worker {len(started)} printing 'ready'", STARTUP_BOUND)
    return worker


async def chain_oracle(monkeypatch: pytest.MonkeyPatch) -> Any:
    """What plain LangGraph returns for the chain (no ledger, no sleep)."""
    with monkeypatch.context() as patch:
        patch.delenv("CRASH_LEDGER", raising=False)
        patch.setenv("CRASH_SLOW_SECONDS", "0")
        graph = load_test_graph("crash_chain", "crash_chain.py:graph").original
        return to_jsonable(await graph.ainvoke(CHAIN_INPUT))


def assert_chain_ran_once_except_n3(counts: Counter[tuple[str, str]]) -> None:
    for node in ["n1", "n2", "n4", "n5"]:
        assert counts["start", node] == 1, (node, counts)
        assert counts["finish", node] == 1, (node, counts)


# -- 1. a worker killed in the middle of a run -------------------------------------------


async def test_killed_worker_run_completes_on_new_worker_without_redoing_finished_nodes(
    client: Client, dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL while n3 runs; a new worker finishes the run; n1-n2 never rerun, n3 once more."""
    expected = await chain_oracle(monkeypatch)
    ledger = tmp_path / "ledger.txt"
    queue = f"crash-{uuid.uuid4()}"
    thread = f"t-{uuid.uuid4()}"
    threads = Threads(client, queue)
    with worker_processes() as started:
        # The first worker's n3 would sleep far past the kill: it is killed inside n3.
        first = await start_worker(
            started,
            tmp_path,
            dev_server.address,
            queue,
            {"CRASH_LEDGER": str(ledger), "CRASH_SLOW_SECONDS": "120"},
        )
        ticket = await threads.submit(thread, RunRequest("crash_chain", CHAIN_INPUT))
        await until(lambda: ledger_counts(ledger)["start", "n3"] == 1, "n3 starting", RUN_BOUND)
        first.kill()
        at_kill = ledger_counts(ledger)
        assert at_kill == Counter(
            {
                ("start", "n1"): 1,
                ("finish", "n1"): 1,
                ("start", "n2"): 1,
                ("finish", "n2"): 1,
                ("start", "n3"): 1,
            }
        )

        await start_worker(
            started,
            tmp_path,
            dev_server.address,
            queue,
            {"CRASH_LEDGER": str(ledger), "CRASH_SLOW_SECONDS": "2"},
        )
        outcome = await asyncio.wait_for(threads.wait(thread, ticket.run_id), RUN_BOUND)

    assert outcome.status == "success", outcome
    assert outcome.values == expected
    counts = ledger_counts(ledger)
    assert_chain_ran_once_except_n3(counts)
    # The killed attempt plus exactly one more, which finished.
    assert counts["start", "n3"] == 2, counts
    assert counts["finish", "n3"] == 1, counts
    attempts = attempts_by_node(await node_executions(client, ticket.run_id))
    assert attempts == Counter({f"crash_chain.{n}": 1 for n in CHAIN} | {"crash_chain.n3": 2})


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
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server goes down while n3 runs and comes back on its SQLite file: the run finishes."""
    expected = await chain_oracle(monkeypatch)
    ledger = tmp_path / "ledger.txt"
    monkeypatch.setenv("CRASH_LEDGER", str(ledger))
    monkeypatch.setenv("CRASH_SLOW_SECONDS", "120")
    graphs = {
        "crash_chain": load_test_graph(
            "crash_chain", "crash_chain.py:graph", nodes={"n3": {"start_to_close_timeout": 6}}
        )
    }
    data_dir, port = tmp_path / "temporal", free_port()
    async with own_server(data_dir, port) as servers:
        own_client = await Client.connect(servers[0].address, data_converter=DATA_CONVERTER)
        async with running_worker(own_client, graphs) as stack:
            thread = stack.new_thread()
            ticket = await stack.threads.submit(thread, RunRequest("crash_chain", CHAIN_INPUT))
            await until(lambda: ledger_counts(ledger)["start", "n3"] == 1, "n3 starting", RUN_BOUND)

            servers[0].stop()
            assert servers[0].process is not None and servers[0].process.poll() is not None
            # n3 is still sleeping, so the run cannot have finished before the server went.
            assert ledger_counts(ledger)["finish", "n3"] == 0

            servers.append(DevServer(data_dir, port=port, ui_port=None))
            await servers[1].start()
            monkeypatch.setenv("CRASH_SLOW_SECONDS", "0")  # let n3 (whichever attempt) end

            outcome: RunOutcome = await retrying(
                lambda: stack.threads.wait(thread, ticket.run_id),
                "waiting for the run",
                RUN_BOUND,
            )
            state: ThreadState = await retrying(
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
    client: Client, dev_server: DevServer, tmp_path: Path
) -> None:
    """Killed while waiting at interrupt(): the new worker replays the run, the interrupt
    keeps its id (a resume keyed by it is accepted) and the run ends as LangGraph's does."""
    asked, expected = await approval_oracle()
    queue = f"crash-{uuid.uuid4()}"
    thread = f"t-{uuid.uuid4()}"
    threads = Threads(client, queue)
    with worker_processes() as started:
        first = await start_worker(started, tmp_path, dev_server.address, queue, {})
        ticket = await threads.submit(thread, RunRequest("approval", APPROVAL_INPUT))
        outcome = await asyncio.wait_for(threads.wait(thread, ticket.run_id), RUN_BOUND)
        assert outcome.status == "interrupted", outcome
        assert [i["value"] for i in outcome.interrupts] == asked[0]
        before = await threads.state(thread)
        assert before.status == "interrupted"
        assert before.interrupts == outcome.interrupts
        assert all(i["id"] for i in before.interrupts)

        first.kill()
        await start_worker(started, tmp_path, dev_server.address, queue, {})
        after = await retrying(
            lambda: threads.state(thread), "thread state on the new worker", RUN_BOUND
        )
        assert after.interrupts == before.interrupts
        assert after.checkpoint_id == before.checkpoint_id

        pending = before.interrupts
        for index, answer in enumerate(ANSWERS):
            value = {pending[0]["id"]: answer} if index == 0 else answer
            waiting = await asyncio.wait_for(threads.resume(thread, value), RUN_BOUND)
            assert waiting.run_id == ticket.run_id
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

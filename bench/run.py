"""Tempograph's overhead against in-process LangGraph, measured in one run.

    make bench            # or: .venv/bin/python bench/run.py --runs 30

Starts its own Temporal dev server (loopback, temp dir) and an in-process worker, then
measures, on the same machine in the same run:
  * a trivial 3-node graph: in-process ``ainvoke`` with ``InMemorySaver`` vs Tempograph
    end to end (submit on a new thread, wait for the outcome);
  * a 20-node chain the same way, and the per-node overhead
    ((tempograph - in-process) / 20);
  * where a node's time goes, from the 20-node runs' Temporal histories.
Medians are what to quote; this machine has 2 noisy cores.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from bench.baseline import Chain, noop  # noqa: E402
from tempograph.registry import GraphSpec, load_graph  # noqa: E402
from tempograph.temporal.client import Threads  # noqa: E402
from tempograph.temporal.converter import DATA_CONVERTER  # noqa: E402
from tempograph.temporal.devserver import DevServer  # noqa: E402
from tempograph.temporal.worker import build_workers  # noqa: E402
from tempograph.workflows.types import RunRequest  # noqa: E402

BENCH = Path(__file__).resolve().parent
INPUT = {"count": 0, "path": []}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def in_process(graph: Any, runs: int) -> list[float]:
    compiled = graph.copy({"checkpointer": InMemorySaver()})
    times = []
    for _ in range(runs):
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        start = time.perf_counter()
        await compiled.ainvoke(INPUT, config)
        times.append(time.perf_counter() - start)
    return times


async def durable(threads: Threads, graph_id: str, runs: int) -> tuple[list[float], list[str]]:
    times, run_ids = [], []
    for _ in range(runs):
        thread = f"bench-{uuid.uuid4()}"
        start = time.perf_counter()
        ticket = await threads.submit(thread, RunRequest(graph_id, INPUT))
        outcome = await threads.wait(thread, ticket.run_id)
        times.append(time.perf_counter() - start)
        assert outcome.status == "success", outcome
        run_ids.append(ticket.run_id)
    return times, run_ids


async def plain_temporal(client: Client, length: int, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await client.execute_workflow(
            Chain.run, length, id=f"bench-{uuid.uuid4()}", task_queue="bench-plain"
        )
        times.append(time.perf_counter() - start)
    return times


async def breakdown(client: Client, run_ids: list[str]) -> dict[str, list[float]]:
    """Per node: queue wait (scheduled->started), execution (started->completed), and the
    workflow's turn-around (completed -> next node scheduled)."""
    parts: dict[str, list[float]] = {
        "queue": [],
        "execute": [],
        "workflow": [],
        "wft_dispatch": [],
        "wft_process": [],
    }
    for run_id in run_ids:
        history = await client.get_workflow_handle(run_id).fetch_history()
        scheduled: dict[int, float] = {}
        started: dict[int, float] = {}
        last_completed: float | None = None
        wft_scheduled = wft_started = 0.0
        for event in history.events:
            t = event.event_time.ToDatetime().timestamp()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                wft_scheduled = t
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                wft_started = t
                parts["wft_dispatch"].append(t - wft_scheduled)
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                parts["wft_process"].append(t - wft_started)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                scheduled[event.event_id] = t
                if last_completed is not None:
                    parts["workflow"].append(t - last_completed)
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                sid = event.activity_task_started_event_attributes.scheduled_event_id
                started[sid] = t
                parts["queue"].append(t - scheduled[sid])
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                sid = event.activity_task_completed_event_attributes.scheduled_event_id
                parts["execute"].append(t - started[sid])
                last_completed = t
    return parts


def row(name: str, values: list[float]) -> str:
    return (
        f"| {name:<34} | {statistics.median(values) * 1000:9.1f} | "
        f"{pct(values, 0.95) * 1000:9.1f} | {len(values):4d} |"
    )


async def main(runs: int, extra: tuple[str, ...]) -> None:
    graphs = {
        "chain3": load_graph(GraphSpec("chain3", BENCH / "graphs.py", "chain3")),
        "chain20": load_graph(GraphSpec("chain20", BENCH / "graphs.py", "chain20")),
        "chain3_local": load_graph(GraphSpec("chain3_local", BENCH / "graphs.py", "chain3_local")),
        "chain20_local": load_graph(
            GraphSpec("chain20_local", BENCH / "graphs.py", "chain20_local")
        ),
    }
    originals = {gid: g.original for gid, g in graphs.items()}
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer(Path(tmp), port=free_port(), ui_port=None, extra_args=extra)
        await server.start()
        try:
            client = await Client.connect(server.address, data_converter=DATA_CONVERTER)
            plain_worker = Worker(
                client, task_queue="bench-plain", workflows=[Chain], activities=[noop]
            )
            async with build_workers(client, "bench", graphs)[0], plain_worker:
                await plain_temporal(client, 3, 2)
                threads = Threads(client, "bench")
                await durable(threads, "chain3", 3)  # warm up both paths
                await in_process(originals["chain3"], 3)
                ip3 = await in_process(originals["chain3"], runs)
                tg3, _ = await durable(threads, "chain3", runs)
                ip20 = await in_process(originals["chain20"], max(5, runs // 3))
                tg20, ids20 = await durable(threads, "chain20", max(5, runs // 3))
                parts = await breakdown(client, ids20)
                tg3_local, _ = await durable(threads, "chain3_local", runs)
                tg20_local, _ = await durable(threads, "chain20_local", max(5, runs // 3))
                plain3 = await plain_temporal(client, 3, runs)
                plain20 = await plain_temporal(client, 20, max(5, runs // 3))
        finally:
            server.stop()

    print("| measurement                        | median ms |    p95 ms | runs |")
    print("|------------------------------------|-----------|-----------|------|")
    print(row("3 nodes, in-process (InMemorySaver)", ip3))
    print(row("3 nodes, Tempograph end to end", tg3))
    print(row("20 nodes, in-process", ip20))
    print(row("20 nodes, Tempograph end to end", tg20))
    print(row("3 nodes, Tempograph, local activities", tg3_local))
    print(row("20 nodes, Tempograph, local activities", tg20_local))
    print(row("3 no-op activities, plain Temporal", plain3))
    print(row("20 no-op activities, plain Temporal", plain20))
    print(row("per node: activity queue wait", parts["queue"]))
    print(row("per node: activity execution", parts["execute"]))
    print(row("per node: workflow turn-around", parts["workflow"]))
    print(row("  of which: task dispatch (server)", parts["wft_dispatch"]))
    print(row("  of which: LangGraph step (worker)", parts["wft_process"]))
    m = statistics.median
    print()
    print(f"ratio 3 nodes, Tempograph / in-process: {m(tg3) / m(ip3):.0f}x")
    print(f"per-node overhead, 20-node chain: {(m(tg20) - m(ip20)) / 20 * 1000:.1f} ms median")
    print(
        f"per-node overhead, marginal (20 vs 3 nodes): "
        f"{((m(tg20) - m(tg3)) - (m(ip20) - m(ip3))) / 17 * 1000:.1f} ms"
    )
    print(
        f"per-node overhead, 20-node chain as local activities: "
        f"{(m(tg20_local) - m(ip20)) / 20 * 1000:.1f} ms median; marginal (20 vs 3 nodes): "
        f"{((m(tg20_local) - m(tg3_local)) - (m(ip20) - m(ip3))) / 17 * 1000:.1f} ms"
    )
    print(
        f"plain Temporal per activity, 20 in a row: {m(plain20) / 20 * 1000:.1f} ms "
        f"(Tempograph per node / plain Temporal per activity: "
        f"{(m(tg20) - m(ip20)) / m(plain20):.2f})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra `temporal server start-dev` argument (repeatable)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.runs, tuple(args.server_arg)))

"""Chaos under load: SIGKILL the parts of a ``tempograph cluster up`` while runs flow, then
check a ledger the nodes wrote.

    .venv/bin/python bench/chaos.py --runs 200 --kills 15  # about 5 minutes here
    .venv/bin/python bench/chaos.py --runs 20 --kills 5    # the test suite's version

It starts its own ``tempograph cluster up`` (the real Temporal server on Postgres, three
workers, two API replicas behind HAProxy) on free loopback ports in a scratch directory,
serving ``bench/chaos_app`` (four nodes in a chain, each appending a line to a ledger file
as its body starts and ends). ``--clients`` loops each submit a run on a new thread and
poll it to its end, retrying through whatever a kill breaks, as a careful client would.
Meanwhile, every ``--every`` seconds (0.5x..1.5x, at random), one process is killed
with SIGKILL, the kinds taken in a shuffled cycle:

  * ``worker``: a ``tempograph worker``;     * ``api``: an API replica;
  * ``temporal``: the Temporal server's history, matching or frontend service;
  * ``temporal-postgres``: the Postgres that holds Temporal's persistence;
  * ``postgres``: Tempograph's Postgres (threads, runs, checkpoints, values).

``cluster up`` restarts what died, as an orchestrator would. After each kill the harness
waits until the runs in flight at that moment have ended (the kill's recovery time) and
the process is replaced, then goes on. It stops after ``--runs`` runs and ``--kills`` kills
and checks, from the ledger and the API:

  * runs lost: a run that did not end ``success`` with ``steps`` exactly ``a b c d`` (a
    node's update lost or applied twice), or a thread with more than one run;
  * finished nodes run again: a node whose body started after Temporal had recorded its
    activity completed (the run's history, read before the cluster stops);
  * in-flight re-runs: every other repeated start; each must have a kill that can lose an
    attempt (not an API replica's) between it and the node's previous start, at most 60 s
    before it (so no node runs more than once more per kill), else it is unexplained;
  * per kill: nodes in flight, re-runs it caused, when the process was replaced, and
    when every run in flight at the kill had ended (that includes the runs' own time).

Exits 1 if anything is lost or re-run beyond that. ``--json FILE`` writes the figures.
Loopback only, bounded by ``--runs``/``--kills`` and ``--deadline``; stops what it starts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.chaos_app.ledger import LEDGER_ENV, NODES  # noqa: E402
from tempograph.temporal.processes import free_port, running  # noqa: E402

APP = ROOT / "bench" / "chaos_app" / "langgraph.json"
KINDS: dict[str, Callable[[str], bool]] = {
    "worker": lambda name: name.startswith("worker "),
    "api": lambda name: name.startswith("api replica "),
    "temporal": lambda name: name in ("temporal history", "temporal matching", "temporal frontend"),
    "temporal-postgres": lambda name: name == "temporal's postgres",
    "postgres": lambda name: name == "tempograph's postgres",
}
ENDED = ("success", "error", "interrupted", "timeout")
# Kills that can lose a node attempt: its worker, the database its input and output go
# through, or Temporal before it recorded the result. An API replica holds none.
CAN_RERUN = ("worker", "postgres", "temporal", "temporal-postgres")
# A lost attempt is retried within the node's heartbeat timeout (10 s) and its retry
# backoff: a re-run longer after the kill is not that kill's doing.
RERUN_WITHIN = 60.0


class ChaosError(Exception):
    pass


@dataclass
class Job:
    job: str
    thread_id: str
    submitted: float
    run_id: str | None = None
    done: float | None = None
    status: str | None = None
    steps: list[str] | None = None
    runs_on_thread: int = 0
    error: str | None = None
    workflow_id: str | None = None


@dataclass
class Kill:
    at: float
    kind: str
    name: str
    pid: int
    in_flight_runs: list[str] = field(default_factory=list)
    replaced_after: float | None = None
    recovered_after: float | None = None
    in_flight_nodes: int = 0
    reruns: int = 0
    settled: bool = False  # the harness has stopped waiting for it to recover


# --- the ledger's verdict (pure: tests/unit/test_chaos_ledger.py) ---------------------


@dataclass
class Verdict:
    runs: int
    lost: list[str]
    node_bodies: int
    reruns: int
    finished_reruns: list[str]
    unexplained_reruns: list[str]


def read_ledger(text: str) -> dict[str, dict[str, list[float]]]:
    """job -> node -> the times its body started."""
    starts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for line in text.splitlines():
        at, _pid, job, node, event = line.split()
        if event == "start":
            starts[job][node].append(float(at))
    for nodes in starts.values():
        for times in nodes.values():
            times.sort()
    return starts


def judge(
    starts: dict[str, dict[str, list[float]]],
    jobs: list[Job],
    kills: list[Kill],
    completed: dict[str, list[float]] | None = None,
) -> Verdict:
    """Set each kill's ``in_flight_nodes`` and ``reruns``; what was lost or re-run.

    ``completed``: per job, when Temporal recorded each node's activity as completed (its
    history's ``ActivityTaskCompleted``, in chain order). Where a job has none, the next
    node's first start (or, for the last node, the run seen ended) stands in for it."""
    lost = [
        f"{j.job}: {j.error or j.status} steps={j.steps} runs={j.runs_on_thread}"
        for j in jobs
        if j.status != "success" or j.steps != list(NODES) or j.runs_on_thread != 1
    ]
    bodies = reruns = 0
    finished: list[str] = []
    unexplained: list[str] = []
    for job in jobs:
        nodes = starts.get(job.job, {})
        recorded = (completed or {}).get(job.job, [])
        for i, node in enumerate(NODES):
            times = nodes.get(node, [])
            bodies += len(times)
            if i < len(recorded):
                done: float | None = recorded[i]
            else:
                following = nodes.get(NODES[i + 1], []) if i + 1 < len(NODES) else []
                done = following[0] if following else job.done
            for kill in kills:
                if any(t <= kill.at for t in times) and (done is None or done > kill.at):
                    kill.in_flight_nodes += 1
            for previous, again in itertools.pairwise(times):
                reruns += 1
                where = f"{job.job} {node} at {again:.3f}"
                if done is not None and again > done:
                    finished.append(where)
                    continue
                # The first kill since the node's last start that can lose an attempt
                # (an API replica holds none), not longer ago than RERUN_WITHIN.
                cause = [
                    kill
                    for kill in kills
                    if kill.kind in CAN_RERUN
                    and previous <= kill.at <= again
                    and again - kill.at <= RERUN_WITHIN
                ]
                if not cause:
                    unexplained.append(where)
                    continue
                cause[0].reruns += 1
    return Verdict(
        runs=len(jobs),
        lost=lost,
        node_bodies=bodies,
        reruns=reruns,
        finished_reruns=finished,
        unexplained_reruns=unexplained,
    )


# --- the cluster, the load and the killer ------------------------------------------------


class Cluster:
    """``tempograph cluster up`` for the chaos app, started and stopped by its PID."""

    def __init__(self, workdir: Path, ledger: Path) -> None:
        self.data = workdir / "data"
        self.log = workdir / "cluster.log"
        self.ledger = ledger
        self.api_port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 600) -> None:
        env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(self.data), LEDGER_ENV: str(self.ledger)}
        env.pop("DATABASE_URL", None)
        args = ["cluster", "up", "--config", str(APP), "--port", str(free_port())]
        args += ["--ui-port", str(free_port()), "--api-port", str(self.api_port)]
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tempograph.cli", *args, stdout=out, stderr=out, env=env
            )
        deadline = time.monotonic() + within
        while "tempograph cluster ready" not in self.log.read_text(errors="replace"):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise ChaosError(f"cluster up did not start:\n{self.log.read_text()[-3000:]}")
            await asyncio.sleep(0.5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def processes(self) -> dict[str, int]:
        """Every process ``cluster up`` runs now, by name (it rewrites the file whole)."""
        for _ in range(50):
            with contextlib.suppress(OSError, ValueError, KeyError):
                found = json.loads((self.data / "endpoints.json").read_text())["cluster"]
                return {name: int(pid) for name, pid in found.items() if pid}
            time.sleep(0.1)
        raise ChaosError("cannot read the cluster's endpoints.json")

    async def stop(self) -> None:
        """SIGTERM ``cluster up`` (it stops its processes in order); if it has not ended
        in two minutes, SIGKILL it and every process it listed."""
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            listed = self.processes()
        except ChaosError:
            listed = {}
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), 120)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            for pid in listed.values():
                if alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


def alive(pid: int | None) -> bool:
    return pid is not None and running(pid)


async def persist(call: Callable[[], Awaitable[httpx.Response]], deadline: float) -> httpx.Response:
    """``call`` until it gets an answer that is not a server error (a kill's 502/503, a
    dropped connection) or ``deadline`` passes."""
    while True:
        try:
            response = await call()
            if response.status_code < 500:
                return response
            problem = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as err:
            problem = repr(err)
        if time.monotonic() > deadline:
            raise ChaosError(f"no answer before the deadline: {problem}")
        await asyncio.sleep(0.5)


async def one_run(http: httpx.AsyncClient, job: Job, deadline: float) -> None:
    """Submit the job's run on its own thread and poll it to its end, as a client that
    must not lose work does: a request that got no answer may have created the run, so
    the thread's runs are read before asking again (``reject`` refuses a second one)."""
    thread = f"/threads/{job.thread_id}"
    body = {"thread_id": job.thread_id, "if_exists": "do_nothing"}
    created = await persist(lambda: http.post("/threads", json=body), deadline)
    if created.status_code != 200:
        raise ChaosError(f"thread: {created.status_code} {created.text}")
    run = {
        "assistant_id": "ledger",
        "input": {"job": job.job, "steps": []},
        "multitask_strategy": "reject",
    }
    while job.run_id is None:
        with contextlib.suppress(httpx.HTTPError):
            response = await http.post(f"{thread}/runs", json=run)
            if response.status_code == 200:
                job.run_id = response.json()["run_id"]
                break
            if response.status_code < 500 and response.status_code != 409:
                raise ChaosError(f"run: {response.status_code} {response.text}")
        listed = (await persist(lambda: http.get(f"{thread}/runs"), deadline)).json()
        if listed:
            job.run_id = listed[-1]["run_id"]
        elif time.monotonic() > deadline:
            raise ChaosError("the run was never created")
        else:
            await asyncio.sleep(0.5)
    while True:
        got = (await persist(lambda: http.get(f"{thread}/runs/{job.run_id}"), deadline)).json()
        job.workflow_id = got.get("workflow_id") or job.workflow_id
        if got.get("status") in ENDED:
            job.done, job.status = time.time(), got["status"]
            break
        if time.monotonic() > deadline:
            raise ChaosError(f"still {got.get('status')} at the deadline")
        await asyncio.sleep(0.25)
    state = (await persist(lambda: http.get(f"{thread}/state"), deadline)).json()
    job.steps = state["values"].get("steps")
    job.runs_on_thread = len((await persist(lambda: http.get(f"{thread}/runs"), deadline)).json())


async def load(
    url: str, jobs: list[Job], clients: int, enough: Callable[[], bool], per_run: float
) -> None:
    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while not enough():
                job = Job(str(uuid.uuid4()), str(uuid.uuid4()), time.time())
                jobs.append(job)
                try:
                    await one_run(http, job, time.monotonic() + per_run)
                except (ChaosError, ValueError, KeyError, TypeError, httpx.HTTPError) as err:
                    job.error = f"{type(err).__name__}: {err}"

    await asyncio.gather(*(client() for _ in range(clients)))


async def killer(
    cluster: Cluster,
    jobs: list[Job],
    kills: list[Kill],
    args: argparse.Namespace,
    rng: random.Random,
    finished: asyncio.Event,
) -> None:
    cycle: list[str] = []
    while not finished.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(finished.wait(), rng.uniform(0.5, 1.5) * args.every)
        if finished.is_set() or len(kills) >= args.max_kills:
            return
        if not cycle:
            cycle = rng.sample(args.targets, len(args.targets))
        kind = cycle.pop()
        processes = cluster.processes()
        names = sorted(n for n, pid in processes.items() if KINDS[kind](n) and alive(pid))
        if not names:  # still down from an earlier kill: try this kind again later
            cycle.insert(0, kind)
            continue
        name = rng.choice(names)
        kill = Kill(time.time(), kind, name, processes[name])
        kill.in_flight_runs = [j.job for j in jobs if j.done is None and j.error is None]
        try:
            os.kill(kill.pid, signal.SIGKILL)
        except ProcessLookupError:  # it died just now by itself: not our kill
            continue
        kills.append(kill)
        print(f"  killed {name} (pid {kill.pid}); {len(kill.in_flight_runs)} runs in flight")
        waiting = [j for j in jobs if j.job in kill.in_flight_runs]
        deadline = time.monotonic() + args.per_run
        while time.monotonic() < deadline and not finished.is_set():
            now = cluster.processes().get(name)
            if kill.replaced_after is None and now != kill.pid and alive(now):
                kill.replaced_after = time.time() - kill.at
            if all(j.done or j.error for j in waiting):
                ends = [j.done for j in waiting if j.done]
                if ends or not waiting:
                    kill.recovered_after = max(ends, default=kill.at) - kill.at
                if kill.replaced_after is not None:
                    break
            await asyncio.sleep(0.2)
        kill.settled = True


async def completions(address: str, jobs: list[Job]) -> dict[str, list[float]]:
    """Per job, when Temporal recorded each node's activity completed (its run's
    history; the activity type is ``<graph>.<node>``), in chain order."""
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client
    from temporalio.service import RPCError

    client = await Client.connect(address)
    found: dict[str, list[float]] = {}
    for job in jobs:
        if job.workflow_id is None:
            continue
        try:
            history = await client.get_workflow_handle(job.workflow_id).fetch_history()
        except RPCError:
            continue
        scheduled: dict[int, str] = {}
        done: dict[str, float] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                kind = event.activity_task_scheduled_event_attributes.activity_type.name
                scheduled[event.event_id] = kind.rsplit(".", 1)[-1]
            elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                attributes = event.activity_task_completed_event_attributes
                node = scheduled.get(attributes.scheduled_event_id)
                if node in NODES and node not in done:
                    done[node] = event.event_time.seconds + event.event_time.nanos / 1e9
        if all(node in done for node in NODES):
            found[job.job] = [done[node] for node in NODES]
    return found


# --- the report -------------------------------------------------------------------------


def report(verdict: Verdict, jobs: list[Job], kills: list[Kill], began: float) -> str:
    durations = [j.done - j.submitted for j in jobs if j.done and j.status == "success"]
    lines = [
        f"runs: {verdict.runs}, lost: {len(verdict.lost)}; node bodies run:"
        f" {verdict.node_bodies} ({verdict.runs * len(NODES)} needed), re-run:"
        f" {verdict.reruns} (finished nodes: {len(verdict.finished_reruns)}, unexplained:"
        f" {len(verdict.unexplained_reruns)}); kills: {len(kills)}",
        f"run time, submit to seen ended (median, max): {statistics.median(durations or [0]):.1f}"
        f" s, {max(durations or [0]):.1f} s",
        "",
        "| at (s) | kind | process | nodes in flight | re-runs | replaced after (s)"
        " | runs in flight ended after (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kill in kills:
        lines.append(
            f"| {kill.at - began:.0f} | {kill.kind} | {kill.name} | {kill.in_flight_nodes}"
            f" | {kill.reruns} | {_seconds(kill.replaced_after)}"
            f" | {_seconds(kill.recovered_after)} |"
        )
    lines += ["", "| kind | kills | recovery median (s) | recovery max (s) |", "|---|---|---|---|"]
    for kind in sorted({k.kind for k in kills}):
        times = [k.recovered_after for k in kills if k.kind == kind and k.recovered_after]
        lines.append(
            f"| {kind} | {sum(k.kind == kind for k in kills)}"
            f" | {_seconds(statistics.median(times) if times else None)}"
            f" | {_seconds(max(times) if times else None)} |"
        )
    for what, items in (
        ("lost", verdict.lost),
        ("finished node re-run", verdict.finished_reruns),
        ("unexplained re-run", verdict.unexplained_reruns),
    ):
        lines += [f"{what}: {item}" for item in items[:20]]
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def passed(verdict: Verdict, kills: list[Kill]) -> bool:
    return (
        not verdict.lost
        and not verdict.finished_reruns
        and not verdict.unexplained_reruns
        and all(k.recovered_after is not None and k.replaced_after is not None for k in kills)
    )


async def under_chaos(
    cluster: Cluster,
    args: argparse.Namespace,
    jobs: list[Job],
    kills: list[Kill],
    completed: dict[str, list[float]],
) -> float:
    """Start the cluster, run the load and the killer until both are done, read when
    Temporal recorded each node done, stop the cluster; when the load began."""
    rng = random.Random(args.seed)
    try:
        print(f"starting tempograph cluster up (log: {cluster.log})")
        await cluster.start(args.start_within)
        began = time.time()
        finished = asyncio.Event()
        chaos = asyncio.ensure_future(killer(cluster, jobs, kills, args, rng, finished))

        def enough() -> bool:
            # Runs and kills enough, the last kill recovered from (or given up on) under
            # load; or the killer failed.
            settled = len(kills) >= args.kills and (not kills or kills[-1].settled)
            return chaos.done() or (len(jobs) >= args.runs and settled)

        try:
            await asyncio.wait_for(
                load(cluster.url, jobs, args.clients, enough, args.per_run), args.deadline
            )
        finally:
            finished.set()
            await chaos
        address = json.loads((cluster.data / "endpoints.json").read_text())["temporal"]
        completed.update(await completions(address, jobs))
    finally:
        await cluster.stop()
    return began


def main(args: argparse.Namespace) -> int:
    def stop(*_: object) -> None:
        raise KeyboardInterrupt  # the cluster is stopped on the way out

    signal.signal(signal.SIGTERM, stop)
    with tempfile.TemporaryDirectory(prefix="tempograph-chaos-") as scratch:
        workdir = Path(args.workdir or scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        ledger = workdir / "ledger.txt"
        ledger.touch()
        jobs: list[Job] = []
        kills: list[Kill] = []
        completed: dict[str, list[float]] = {}
        ok = False
        try:
            cluster = Cluster(workdir, ledger)
            began = asyncio.run(under_chaos(cluster, args, jobs, kills, completed))
            verdict = judge(read_ledger(ledger.read_text()), jobs, kills, completed)
            print(report(verdict, jobs, kills, began))
            print(f"Temporal's completion times read for {len(completed)} of {len(jobs)} runs")
            if args.json:
                figures = {"verdict": asdict(verdict), "kills": [asdict(k) for k in kills]}
                Path(args.json).write_text(json.dumps(figures, indent=1))
            ok = passed(verdict, kills)
        finally:
            if args.workdir is None and not ok:
                keep = Path(tempfile.mkdtemp(prefix="tempograph-chaos-failed-"))
                for item in ("ledger.txt", "cluster.log"):
                    with contextlib.suppress(OSError):
                        (keep / item).write_bytes((workdir / item).read_bytes())
                print(f"ledger and cluster log kept in {keep}")
        return 0 if ok else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs to submit, at least")
    parser.add_argument("--kills", type=int, default=10, help="kills to make, at least")
    parser.add_argument("--max-kills", type=int, default=1000, help="and at most")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    parser.add_argument("--every", type=float, default=8.0, help="seconds between kills, mean")
    parser.add_argument("--targets", default=",".join(KINDS), help="kinds to kill")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--per-run", type=float, default=300.0, help="a run's deadline, s")
    parser.add_argument("--deadline", type=float, default=3600.0, help="the whole load's, s")
    parser.add_argument("--start-within", type=float, default=600.0, help="cluster start, s")
    parser.add_argument("--workdir", help="keep the cluster's data, ledger and log here")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = set(args.targets) - set(KINDS)
    if unknown or not args.targets:
        parser.error(f"--targets: choose from {', '.join(KINDS)}")
    return args


if __name__ == "__main__":
    sys.exit(main(parse_args()))

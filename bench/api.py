"""Tempograph against plain Temporal (the floor) and `langgraph dev` (the peer), in one run.

    make bench                       # everything below, each server started here
    .venv/bin/python bench/api.py --start-tempograph --floor --start-peer \\
        --sizes --endings --idle-threads 1000

Subjects (columns):
  * ``tempograph``: ``tempograph up --config bench/peer/langgraph.json``, started here on
    free loopback ports in a scratch data directory (``--start-tempograph``), or any
    server given as ``--target LABEL=URL`` serving that file's graphs;
  * ``floor``: plain Temporal on the same dev server (``--floor``): a workflow of three
    no-op activities (bench/baseline.py), its worker in this process, unsandboxed and
    started eagerly like Tempograph's runs. What Temporal costs before any of our work;
  * ``observed`` (``--observed``): a second ``tempograph up`` with metrics on and every
    trace exported over OTLP to a Jaeger started here; ``tempograph`` then runs with
    metrics off (``TEMPOGRAPH_METRICS=off``) and no tracing: the overhead's baseline;
  * ``peer``: ``langgraph dev`` from its own venv (bench/peer/setup, pinned in
    bench/peer/requirements.txt), in-memory runtime (``--start-peer``).

Measured with the official ``langgraph_sdk`` async client:
  * latency, samples interleaved across subjects (the order alternating each round, a
    random 0..``--pause`` s untimed pause before each: the peer's queue polls every 0.5 s
    and back-to-back samples would lock onto one phase of it): threads.create; runs.wait
    of chain3 on that new thread; runs.wait of chain3 on one long-lived thread (the
    common chat case); runs.stream of chain3 to its first event and first values event;
    interrupt + resume of approval. The floor's one sample (start and await a workflow)
    fills both runs.wait rows: it has no threads;
  * throughput: C concurrent clients (the floor: C concurrent starters), each looping
    threads.create + runs.wait of chain3 for D seconds; runs completed in the window
    per second, errors, and the latency under that load;
  * sizes (``--sizes``): runs.wait of ``chat`` (three nodes, each appending a ~500
    character message) on a thread holding 10 messages, on one holding 1,000, and on
    one of 10 messages the first of which is 10 MB (a pasted document), each sample on a
    fresh thread seeded untimed; the ratios of the medians to the 10-message one;
  * endings (``--endings``, Tempograph): a ``slow`` run terminated, and one cancelled,
    from Temporal (as the UI's buttons do); seconds until the API shows the run's end;
  * where a run's time goes (Tempograph and the floor): K sequential runs' Temporal
    histories, split into before the workflow started, the worker's workflow tasks,
    the activities, the server's dispatch between them, and after it closed;
  * memory (``--idle-threads N``, a started Tempograph): the ``tempograph up`` process's
    resident memory before and after N threads of R runs each (30 messages in per run,
    so ~100 messages per thread), then idle; N/5 such threads warm it up first. That
    process runs the API too (and its caches), so this overstates the worker's share.
Every answer is checked: a fast wrong answer is an error, never a good time. Ratios are
subject / baseline (``--baseline``, default ``peer``); 2 noisy cores: quote medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.baseline import Chain, noop  # noqa: E402
from tempograph.temporal.processes import free_port  # noqa: E402


@contextlib.contextmanager
def jaeger_receiver() -> Any:
    """An OTLP/HTTP endpoint of a Jaeger started here (stopped at the end)."""
    from tests.integration.jaeger import jaeger

    with tempfile.TemporaryDirectory(prefix="tempograph-bench-jaeger-") as tmp:
        with jaeger(Path(tmp)) as receiver:
            yield receiver.otlp_endpoint


PEER_CONFIG = BENCH / "peer" / "langgraph.json"
PEER_SETUP = BENCH / "peer" / "setup"
PEER_ENV = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}
TEMPOGRAPH = Path(sys.executable).parent / "tempograph"
CHAIN_INPUT: dict[str, Any] = {"path": []}
CHAIN_OUTPUT = ["a", "b", "c"]
APPROVAL_OUTPUT = ["ask", "done"]
TEXT = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod. " * 7)[:500]
FINAL = ("success", "error", "interrupted", "timeout")


class BenchError(Exception):
    """A subject answered, but not with what the graph produces."""


@dataclass
class Samples:
    """Seconds per sample, by measurement key."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, seconds: float) -> None:
        self.times.setdefault(key, []).append(seconds)

    def extend(self, other: Samples) -> None:
        for key, values in other.times.items():
            self.times.setdefault(key, []).extend(values)


def checked(result: Any, expected: list[str], what: str) -> dict[str, Any]:
    """The run's output, if its ``path`` is what the graph produces."""
    if not isinstance(result, dict) or result.get("path") != expected:
        raise BenchError(f"{what}: expected path {expected}, got {str(result)[:300]}")
    return result


def messages(count: int) -> list[dict[str, str]]:
    return [{"type": "human", "content": f"{i}: {TEXT}"} for i in range(count)]


class Chain3:
    """The graph the chain3 rows run: ``chain3``, or ``chain3_local`` (the same graph with
    every node a local activity, bench/peer/langgraph.json), by ``--chain-graph``."""

    graph = "chain3"


# --- subjects ------------------------------------------------------------------------------


class Server:
    """A LangGraph Server API (Tempograph or the peer) serving bench/peer/langgraph.json."""

    def __init__(self, label: str, url: str, pid: int | None = None) -> None:
        self.label = label
        self.url = url
        self.pid = pid  # the process we started, to read its CPU time and its children's
        self.sdk = get_client(url=url, api_key=None)
        self._thread: str | None = None

    async def close(self) -> None:
        await self.sdk.aclose()

    async def sample(self, kind: str, samples: Samples) -> None:
        await getattr(self, f"_{kind}")(samples)

    async def _wait(self, samples: Samples) -> None:
        start = time.perf_counter()
        thread = await self.sdk.threads.create()
        created = time.perf_counter()
        result = await self.sdk.runs.wait(thread["thread_id"], Chain3.graph, input=CHAIN_INPUT)
        done = time.perf_counter()
        checked(result, CHAIN_OUTPUT, "runs.wait chain3")
        samples.add("create", created - start)
        samples.add("wait", done - created)

    async def _wait_existing(self, samples: Samples) -> None:
        if self._thread is None:
            self._thread = (await self.sdk.threads.create())["thread_id"]
        start = time.perf_counter()
        result = await self.sdk.runs.wait(self._thread, Chain3.graph, input=CHAIN_INPUT)
        samples.add("wait_existing", time.perf_counter() - start)
        if not isinstance(result, dict) or result.get("path", [])[-3:] != CHAIN_OUTPUT:
            raise BenchError(f"runs.wait chain3 (existing thread): got {str(result)[:300]}")

    async def _stream(self, samples: Samples) -> None:
        thread = await self.sdk.threads.create()
        first: float | None = None
        first_values: float | None = None
        last: Any = None
        start = time.perf_counter()
        async for part in self.sdk.runs.stream(
            thread["thread_id"], Chain3.graph, input=CHAIN_INPUT, stream_mode="values"
        ):
            now = time.perf_counter()
            first = first or now
            if part.event == "values":
                first_values = first_values or now
                last = part.data
            elif part.event == "error":
                raise BenchError(f"runs.stream chain3: error event {part.data!r}")
        if first is None or first_values is None:
            raise BenchError("runs.stream chain3: no values event")
        checked(last, CHAIN_OUTPUT, "runs.stream chain3, last values event")
        samples.add("stream_first", first - start)
        samples.add("stream_values", first_values - start)

    async def _interrupt(self, samples: Samples) -> None:
        start = time.perf_counter()
        thread = await self.sdk.threads.create()
        tid = thread["thread_id"]
        paused = await self.sdk.runs.wait(tid, "approval", input=CHAIN_INPUT)
        if not isinstance(paused, dict) or not paused.get("__interrupt__"):
            raise BenchError(f"runs.wait approval: expected __interrupt__, got {paused!r}")
        result = await self.sdk.runs.wait(tid, "approval", command={"resume": "yes"})
        samples.add("interrupt", time.perf_counter() - start)
        if checked(result, APPROVAL_OUTPUT, "approval, resumed").get("answer") != "yes":
            raise BenchError(f"runs.wait approval, resumed: answer {result!r}")

    async def one_run(self, sdk: LangGraphClient) -> None:
        thread = await sdk.threads.create()
        result = await sdk.runs.wait(thread["thread_id"], Chain3.graph, input=CHAIN_INPUT)
        checked(result, CHAIN_OUTPUT, "runs.wait chain3")

    async def chat_on(self, held: int, big: int = 0) -> float:
        """Seconds of one runs.wait of chat on a fresh thread holding ``held`` messages,
        the first of ``big`` characters when ``big`` is set (a pasted document)."""
        tid = (await self.sdk.threads.create())["thread_id"]
        seed = messages(held - 3)
        if big:
            seed[0]["content"] = "p" * big
        seeded = await self.sdk.runs.wait(tid, "chat", input={"messages": seed})
        if len(seeded.get("messages", [])) != held:  # type: ignore[union-attr]
            raise BenchError(f"chat seed: expected {held} messages")
        start = time.perf_counter()
        result = await self.sdk.runs.wait(tid, "chat", input={"messages": messages(1)})
        seconds = time.perf_counter() - start
        if not isinstance(result, dict) or len(result.get("messages", [])) != held + 4:
            raise BenchError(f"chat on {held} messages: expected {held + 4} messages back")
        return seconds


class Floor:
    """Plain Temporal on the dev server: bench/baseline.py's Chain of 3 no-op activities."""

    label = "floor"

    def __init__(self, client: Client) -> None:
        self.client = client
        self.queue = f"bench-floor-{uuid.uuid4()}"

    async def sample(self, kind: str, samples: Samples) -> None:
        if kind != "wait":
            return
        start = time.perf_counter()
        await self.one_run(None)
        seconds = time.perf_counter() - start
        samples.add("wait", seconds)
        samples.add("wait_existing", seconds)  # no threads: the same sample fills both

    async def one_run(self, _: Any) -> str:
        workflow_id = f"floor-{uuid.uuid4()}"
        result = await self.client.execute_workflow(
            Chain.run, 3, id=workflow_id, task_queue=self.queue, request_eager_start=True
        )
        if result != 3:
            raise BenchError(f"floor workflow returned {result!r}")
        return workflow_id

    async def close(self) -> None:
        return None


@contextlib.asynccontextmanager
async def running_floor(address: str) -> AsyncIterator[Floor]:
    client = await Client.connect(address)
    floor = Floor(client)
    async with Worker(
        client,
        task_queue=floor.queue,
        workflows=[Chain],
        activities=[noop],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield floor


Subject = Server | Floor
LATENCY_KINDS = ("wait", "wait_existing", "stream", "interrupt")


# --- latency and throughput ----------------------------------------------------------------


async def latencies(
    subjects: list[Subject], rounds: int, warmup: int, pause: float
) -> dict[str, Samples]:
    results = {s.label: Samples() for s in subjects}
    for i in range(warmup + rounds):
        order = subjects if i % 2 == 0 else subjects[::-1]
        for kind in LATENCY_KINDS:
            for subject in order:
                scratch = Samples()
                await asyncio.sleep(random.uniform(0, pause))
                try:
                    await subject.sample(kind, scratch)
                except (BenchError, httpx.HTTPError) as err:
                    raise BenchError(f"{subject.label}: {type(err).__name__}: {err}") from err
                if i >= warmup:
                    results[subject.label].extend(scratch)
    return results


@dataclass
class Throughput:
    completed: int = 0
    errors: int = 0
    duration: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_errors: list[str] = field(default_factory=list)
    cpu: float | None = None  # CPU seconds of the subject's processes, where we know them

    def add(self, other: Throughput) -> None:
        self.completed += other.completed
        self.errors += other.errors
        self.duration += other.duration
        self.latencies += other.latencies
        self.first_errors += other.first_errors[: 3 - len(self.first_errors)]
        if other.cpu is not None:
            self.cpu = (self.cpu or 0.0) + other.cpu


def tree_cpu(pid: int) -> float:
    """User + system seconds of ``pid`` and its live descendants (Linux /proc): `up`'s
    API and worker, its Temporal dev server, its Postgres."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)"
            me = int(stat.parent.name)
            parents[me] = int(fields[1])
            ticks[me] = int(fields[11]) + int(fields[12])  # utime, stime
    tree, grown = {pid}, True
    while grown:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


async def rounds_of_throughput(
    subjects: list[Subject], clients: int, duration: float, rounds: int
) -> dict[str, Throughput]:
    """``duration`` per subject, in ``rounds`` slices taken in turn (the order reversed
    every round), so that the machine's drift falls on every subject alike."""
    through = {s.label: Throughput() for s in subjects}
    for i in range(rounds):
        for subject in subjects if i % 2 == 0 else subjects[::-1]:
            print(f"throughput: {subject.label}, round {i + 1} of {rounds}", file=sys.stderr)
            through[subject.label].add(await throughput(subject, clients, duration / rounds))
    return through


async def throughput(subject: Subject, clients: int, duration: float) -> Throughput:
    sdks: list[Any] = (
        [get_client(url=subject.url, api_key=None) for _ in range(clients)]
        if isinstance(subject, Server)
        else [None] * clients
    )
    completed = errors = 0
    run_latencies: list[float] = []
    first_errors: list[str] = []
    pid = subject.pid if isinstance(subject, Server) else None
    cpu_before = tree_cpu(pid) if pid else 0.0
    deadline = time.perf_counter() + duration

    async def loop(sdk: Any) -> None:
        nonlocal completed, errors
        while (start := time.perf_counter()) < deadline:
            try:
                await subject.one_run(sdk)
            # The SDK raises a bare Exception for a failed run; every failure counts.
            except Exception as err:  # noqa: BLE001
                errors += 1
                if len(first_errors) < 3:
                    first_errors.append(f"{type(err).__name__}: {err}"[:300])
                continue
            end = time.perf_counter()
            if end <= deadline:  # a run that ends after the window is not counted
                completed += 1
                run_latencies.append(end - start)

    try:
        await asyncio.gather(*(loop(sdk) for sdk in sdks))
    finally:
        for sdk in sdks:
            if sdk is not None:
                await sdk.aclose()
    cpu = tree_cpu(pid) - cpu_before if pid else None
    return Throughput(completed, errors, duration, run_latencies, first_errors, cpu)


# --- sizes, endings, where the time goes, memory -------------------------------------------

# (sample key, messages held, characters of the first message (0: like the others))
SIZES = (("chat10", 10, 0), ("chat1000", 1000, 0), ("chat10big", 10, 10 * 1024 * 1024))


async def sizes(servers: list[Server], rounds: int) -> dict[str, Samples]:
    results = {s.label: Samples() for s in servers}
    for i in range(rounds + 1):  # the first round warms up
        for key, held, big in SIZES if i % 2 == 0 else SIZES[::-1]:
            for server in servers if i % 2 == 0 else servers[::-1]:
                seconds = await server.chat_on(held, big)
                if i:
                    results[server.label].add(key, seconds)
    return results


async def endings(server: Server, temporal: Client, rounds: int) -> Samples:
    """Seconds from a terminate (or cancel) of a busy run's workflow to the API showing
    the run ended (``error``; ``interrupted`` for a cancel)."""
    out = Samples()
    for _ in range(rounds):
        for action, expected in (("terminate", "error"), ("cancel", "interrupted")):
            tid = (await server.sdk.threads.create())["thread_id"]
            run = await server.sdk.runs.create(tid, "slow", input={"seconds": 60})
            for _ in range(200):
                if (await server.sdk.runs.get(tid, run["run_id"]))["status"] == "running":
                    break
                await asyncio.sleep(0.05)
            handle = temporal.get_workflow_handle(run["run_id"])
            start = time.perf_counter()
            if action == "terminate":
                await handle.terminate(reason="bench: an operator's terminate")
            else:
                await handle.cancel()
            while (
                status := (await server.sdk.runs.get(tid, run["run_id"]))["status"]
            ) not in FINAL:
                if time.perf_counter() - start > 60:
                    raise BenchError(f"{action}: the API still says {status} after 60 s")
                await asyncio.sleep(0.02)
            if status != expected:
                raise BenchError(f"{action}: run ended {status}, expected {expected}")
            out.add(action, time.perf_counter() - start)
    return out


PHASES = (
    "before start",
    "workflow tasks (worker)",
    "activities",
    "dispatch (server)",
    "after close",
)


async def where_time_goes(
    temporal: Client, runs: int, one: Callable[[], Awaitable[str]]
) -> dict[str, float]:
    """Median ms per phase over ``runs`` sequential runs; ``one`` runs one and returns
    its workflow id. Phases come from the history's event times (same machine clock)."""
    phases: dict[str, list[float]] = {p: [] for p in (*PHASES, "total")}
    for _ in range(runs):
        sent = time.time()
        workflow_id = await one()
        received = time.time()
        events = [e async for e in temporal.get_workflow_handle(workflow_id).fetch_history_events()]
        times = [e.event_time.ToDatetime().timestamp() for e in events]
        kinds = [e.event_type for e in events]
        worker = activities = 0.0
        for i, kind in enumerate(kinds):
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                worker += times[i] - times[i - 1]
            elif kind in (
                EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
                EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            ):
                started = next(
                    j
                    for j in range(i - 1, -1, -1)
                    if kinds[j] == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                )
                activities += times[i] - times[started]
        inside = times[-1] - times[0]
        phases["before start"].append(times[0] - sent)
        phases["workflow tasks (worker)"].append(worker)
        phases["activities"].append(activities)
        phases["dispatch (server)"].append(max(inside - worker - activities, 0.0))
        phases["after close"].append(received - times[-1])
        phases["total"].append(received - sent)
    return {k: statistics.median(v) * 1000 for k, v in phases.items()}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for pid {pid}")


async def idle_threads(server: Server, pid: int, threads: int, runs: int) -> dict[str, float]:
    """Resident memory of ``pid`` before and after ``threads`` threads of ``runs`` chat
    runs each (30 messages in per run), 20 at a time, then 5 s idle. A fifth as many
    threads go first, unmeasured: pools, code paths and caches warm up on them."""

    async def make(count: int) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def worker() -> None:
            sdk = get_client(url=server.url, api_key=None)
            try:
                while not queue.empty():
                    queue.get_nowait()
                    tid = (await sdk.threads.create())["thread_id"]
                    for _ in range(runs):
                        await sdk.runs.wait(tid, "chat", input={"messages": messages(30)})
            finally:
                await sdk.aclose()

        await asyncio.gather(*(worker() for _ in range(20)))

    await make(max(threads // 5, 20))
    await asyncio.sleep(5)
    before = rss_mb(pid)
    await make(threads)
    await asyncio.sleep(5)
    after = rss_mb(pid)
    return {"before": before, "after": after, "per 1000 threads": (after - before) * 1000 / threads}


# --- the servers we start ------------------------------------------------------------------


def peer_venv() -> Path:
    """Build (or reuse) the peer's venv with bench/peer/setup; it prints the path last."""
    out = subprocess.run([str(PEER_SETUP)], check=True, stdout=subprocess.PIPE, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def write_peer_config(source: Path, workdir: Path) -> Path:
    """``langgraph dev`` resolves graph paths against its working directory and keeps its
    state in ``.langgraph_api`` there. Run it in a scratch directory, on a copy of the
    config with absolute paths: the repository stays clean and every run starts empty."""
    raw = json.loads(source.read_text(encoding="utf-8"))
    base = source.parent

    def absolute(ref: str) -> str:
        return str((base / ref).resolve()) if ref.startswith(".") else ref

    raw["dependencies"] = [absolute(d) for d in raw.get("dependencies", [])]
    raw["graphs"] = {
        graph_id: absolute(ref) if isinstance(ref, str) else ref
        for graph_id, ref in raw["graphs"].items()
    }
    config = workdir / "langgraph.json"
    config.write_text(json.dumps(raw, indent=2), encoding="utf-8")
    return config


@dataclass
class Started:
    url: str
    pid: int
    temporal: str | None = None


@contextlib.asynccontextmanager
async def running(
    name: str, command: Callable[[Path, int], list[str]], env: dict[str, str]
) -> AsyncIterator[Started]:
    """A server in its own process group, in a scratch directory, on a free loopback
    port; stopped by its process group id at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix=f"tempograph-bench-{name}-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *command(workdir, port),
                cwd=workdir,
                env={**os.environ, **env, "TEMPOGRAPH_DATA_DIR": str(workdir / "data")},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            await wait_ok(url, proc, log_path, name)
            started = Started(url, proc.pid)
            endpoints = workdir / "data" / "endpoints.json"
            if endpoints.exists():
                started.temporal = json.loads(endpoints.read_text())["temporal"]
            print(f"{name}: pid {proc.pid} on {url}", file=sys.stderr)
            yield started
        finally:
            await stop_group(proc)


def peer_command(venv: Path, extra: list[str]) -> Callable[[Path, int], list[str]]:
    def command(workdir: Path, port: int) -> list[str]:
        return [
            str(venv / "bin" / "langgraph"),
            "dev",
            "--config",
            str(write_peer_config(PEER_CONFIG, workdir)),
            "--no-browser",
            "--no-reload",  # no file watcher; the process we start is the server itself
            "--n-jobs-per-worker",
            "10",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            *extra,
        ]

    return command


def tempograph_command(workdir: Path, port: int) -> list[str]:
    return [
        str(TEMPOGRAPH),
        "up",
        "--config",
        str(PEER_CONFIG),
        "--port",
        str(free_port()),
        "--ui-port",
        str(free_port()),
        "--api-port",
        str(port),
    ]


async def wait_ok(url: str, proc: asyncio.subprocess.Process, log_path: Path, name: str) -> None:
    deadline = time.monotonic() + 180
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/ok")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    tail = (await asyncio.to_thread(log_path.read_bytes))[-3000:].decode(errors="replace")
    raise RuntimeError(f"{name} did not answer /ok at {url}; its log ends:\n{tail}")


async def stop_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group we started (the server and anything it spawned), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 5.0)):
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)


# --- report --------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass
class Row:
    name: str
    values: dict[str, float]
    higher_is_better: bool = False
    digits: int = 1


LATENCY_ROWS = {
    "create": "threads.create",
    "wait": "runs.wait chain3, new thread",
    "wait_existing": "runs.wait chain3, existing thread",
    "stream_first": "runs.stream chain3: first event (metadata)",
    "stream_values": "runs.stream chain3: first values event",
    "interrupt": "interrupt + resume (create, wait, resume)",
}


def sample_rows(samples: dict[str, Samples], names: dict[str, str]) -> list[Row]:
    rows = []
    for key, name in names.items():
        for stat, q in (("median", 0.5), ("p95", 0.95)):
            values = {
                label: pct(s.times[key], q) * 1000 for label, s in samples.items() if key in s.times
            }
            if values:
                rows.append(Row(f"{name}, {stat} ms", values))
    return rows


def throughput_rows(through: dict[str, Throughput], clients: int, duration: float) -> list[Row]:
    load = f"{clients} clients, {duration:g} s"
    rows = [
        Row(
            f"throughput ({load}), runs/s",
            {label: t.completed / t.duration for label, t in through.items()},
            higher_is_better=True,
        ),
        Row(
            f"  errors ({load})", {label: float(t.errors) for label, t in through.items()}, digits=0
        ),
    ]
    for stat, q in (("median", 0.5), ("p95", 0.95)):
        values = {label: pct(t.latencies, q) * 1000 for label, t in through.items() if t.latencies}
        rows.append(Row(f"  create + wait under load, {stat} ms", values))
    cpu = {
        label: t.cpu * 1000 / t.completed
        for label, t in through.items()
        if t.cpu is not None and t.completed
    }
    if cpu:  # the servers started here, with every process they started
        rows.append(Row(f"  CPU per completed run ({load}), ms", cpu))
    return rows


def size_rows(samples: dict[str, Samples]) -> list[Row]:
    names = {
        "chat10": "runs.wait chat, 10-message thread",
        "chat1000": "runs.wait chat, 1,000-message thread",
        "chat10big": "runs.wait chat, 10-message thread, one message of 10 MB",
    }
    rows = sample_rows(samples, names)
    for key, label in (("chat1000", "1,000-message"), ("chat10big", "10 MB message")):
        ratio = {
            name: statistics.median(s.times[key]) / statistics.median(s.times["chat10"])
            for name, s in samples.items()
        }
        rows.append(Row(f"  {label} / 10-message (medians)", ratio, digits=2))
    return rows


def render(rows: list[Row], labels: list[str], baselines: list[str]) -> str:
    pairs = [(o, b) for b in baselines for o in labels if o not in baselines]
    header = ["measurement", *labels]
    for other, base in pairs:
        header += [f"{other}/{base}", f"{other} beats {base}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [row.name]
        cells += [
            f"{row.values[label]:.{row.digits}f}" if label in row.values else "-"
            for label in labels
        ]
        for other, base in pairs:
            mine, theirs = row.values.get(other), row.values.get(base)
            if mine is None or theirs is None or row.digits == 2:
                cells += ["-", "-"]
                continue
            cells.append(f"{mine / theirs:.2f}" if theirs else "-")
            if row.digits == 0:  # a count (errors): no more than the baseline is fine
                cells.append("yes" if mine <= theirs else "no")
            else:
                better = mine > theirs if row.higher_is_better else mine < theirs
                cells.append("yes" if better else "no")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, subjects: list[Subject], stack: Started | None) -> None:
    labels = [s.label for s in subjects]
    servers = [s for s in subjects if isinstance(s, Server)]
    ours = next((s for s in servers if s.label == "tempograph"), None)
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    say(f"latency: {args.samples} rounds after {args.warmup} warm-up: {', '.join(labels)}")
    rows = sample_rows(
        await latencies(subjects, args.samples, args.warmup, args.pause), LATENCY_ROWS
    )
    if args.duration > 0:
        through = await rounds_of_throughput(subjects, args.clients, args.duration, args.rounds)
        for label, result in through.items():
            for message in result.first_errors:
                say(f"  {label} error: {message}")
        rows += throughput_rows(through, args.clients, args.duration)
    if args.sizes:
        say(f"sizes: {args.size_samples} rounds of chat on 10, 1,000 and a 10 MB message")
        rows += size_rows(await sizes(servers, args.size_samples))
    notes: list[str] = []
    temporal = await Client.connect(args.temporal) if args.temporal else None
    if args.endings and ours is not None and temporal is not None:
        say("endings: terminate and cancel from Temporal")
        ended = await endings(ours, temporal, args.ending_samples)
        rows += sample_rows(
            {"tempograph": ended},
            {
                "terminate": "terminate in Temporal -> API shows error",
                "cancel": "cancel in Temporal -> API shows interrupted",
            },
        )
    baselines = [b for b in (args.baseline, "floor") if b in labels and len(labels) > 1]
    print(render(rows, labels, baselines))
    if temporal is not None and args.breakdown > 0:
        say(f"where the time goes: {args.breakdown} sequential runs each")
        split: dict[str, dict[str, float]] = {}
        if ours is not None:
            tid = (await ours.sdk.threads.create())["thread_id"]

            async def one_ours() -> str:
                await ours.sdk.runs.wait(tid, Chain3.graph, input=CHAIN_INPUT)
                return str((await ours.sdk.runs.list(tid, limit=1))[0]["workflow_id"])

            split["tempograph"] = await where_time_goes(temporal, args.breakdown, one_ours)
        floor = next((s for s in subjects if isinstance(s, Floor)), None)
        if floor is not None:
            split["floor"] = await where_time_goes(
                temporal, args.breakdown, lambda: floor.one_run(None)
            )
        names = list(split)
        print(
            f"\nwhere a run's time goes (median ms, {args.breakdown} sequential chain3 runs"
            " on one thread; the floor: its workflow):\n"
        )
        print("| phase | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))
        for phase in (*PHASES, "total"):
            print(f"| {phase} | " + " | ".join(f"{split[n][phase]:.1f}" for n in names) + " |")
    if args.idle_threads and stack is not None and ours is not None:
        say(f"memory: {args.idle_threads} threads of {args.idle_runs} chat runs each")
        memory = await idle_threads(ours, stack.pid, args.idle_threads, args.idle_runs)
        notes.append(
            f"memory of the tempograph up process (API + worker), {args.idle_threads} threads of"
            f" {args.idle_runs} chat runs each, then idle: {memory['before']:.0f} MB before,"
            f" {memory['after']:.0f} MB after:"
            f" {memory['per 1000 threads']:.0f} MB per 1,000 threads"
        )
    for note in notes:
        print(f"\n{note}")


async def main(args: argparse.Namespace) -> None:
    Chain3.graph = args.chain_graph
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM stops the run like Ctrl-C does, so the servers started here stop too.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    async with contextlib.AsyncExitStack() as stack:
        subjects: list[Subject] = []
        started = None
        if args.start_tempograph:
            # With --observed, this one runs with metrics off (tracing is off unless the
            # OTEL_* variables say otherwise): the baseline of the observed one below.
            quiet = {"TEMPOGRAPH_METRICS": "off"} if args.observed else {}
            started = await stack.enter_async_context(
                running("tempograph", tempograph_command, quiet)
            )
            args.temporal = args.temporal or started.temporal
            subjects.append(Server("tempograph", started.url, started.pid))
        if args.observed:
            observe = {"TEMPOGRAPH_METRICS": "on"}
            if args.observed == "all":
                observe["OTEL_EXPORTER_OTLP_ENDPOINT"] = stack.enter_context(jaeger_receiver())
            observe.update(dict(pair.split("=", 1) for pair in args.observed_env))
            observed = await stack.enter_async_context(
                running("observed", tempograph_command, observe)
            )
            subjects.append(Server("observed", observed.url, observed.pid))
        subjects += [Server(*spec.split("=", 1)) for spec in args.target]
        if args.floor:
            if not args.temporal:
                raise BenchError(
                    "--floor needs Tempograph's dev server: --start-tempograph or --temporal"
                )
            subjects.append(await stack.enter_async_context(running_floor(args.temporal)))
        if args.start_peer:
            peer = await stack.enter_async_context(
                running("peer", peer_command(args.peer_venv, args.peer_arg), PEER_ENV)
            )
            subjects.append(Server(args.baseline, peer.url, peer.pid))
        try:
            await measure(args, subjects, started)
        finally:
            for subject in subjects:
                await subject.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--start-tempograph", action="store_true", help="start `tempograph up` here"
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="LABEL=URL",
        help="another server to measure (repeatable), e.g. tempograph=http://127.0.0.1:8000",
    )
    parser.add_argument("--temporal", help="Temporal address of the target's dev server")
    parser.add_argument("--floor", action="store_true", help="plain Temporal on that dev server")
    parser.add_argument(
        "--chain-graph",
        default="chain3",
        choices=["chain3", "chain3_local"],
        help="the chain3 rows' graph; chain3_local runs its nodes as local activities",
    )
    parser.add_argument(
        "--observed",
        nargs="?",
        const="all",
        choices=["all", "metrics"],
        help="also a Tempograph with metrics on and (all, the default) traces exported to"
        " Jaeger (the test receiver, built by scripts/setup); --start-tempograph's then"
        " runs with both off",
    )
    parser.add_argument(
        "--observed-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more environment for the --observed stack (e.g. OTEL_TRACES_SAMPLER=always_off)",
    )
    parser.add_argument("--start-peer", action="store_true", help="start `langgraph dev` here")
    parser.add_argument("--baseline", default="peer", help="label ratios are taken against")
    parser.add_argument("--samples", type=int, default=30, help="latency rounds")
    parser.add_argument("--warmup", type=int, default=3, help="unrecorded rounds first")
    parser.add_argument(
        "--pause", type=float, default=0.5, help="random 0..PAUSE s before each latency sample"
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument(
        "--duration", type=float, default=20, help="throughput seconds per subject; 0 skips"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="split each subject's throughput seconds into this many alternating rounds",
    )
    parser.add_argument("--sizes", action="store_true", help="chat: 10, 1,000, 10 MB")
    parser.add_argument("--size-samples", type=int, default=15, help="rounds of --sizes")
    parser.add_argument("--endings", action="store_true", help="terminate/cancel -> API")
    parser.add_argument("--ending-samples", type=int, default=3, help="rounds of --endings")
    parser.add_argument("--breakdown", type=int, default=20, help="runs split by phase; 0 skips")
    parser.add_argument("--idle-threads", type=int, default=0, help="memory: threads to leave idle")
    parser.add_argument("--idle-runs", type=int, default=3, help="memory: runs per thread")
    parser.add_argument(
        "--peer-arg",
        action="append",
        default=[],
        help="extra `langgraph dev` argument (repeatable; write --peer-arg=--flag)",
    )
    args = parser.parse_args()
    if any("=" not in spec for spec in args.target):
        parser.error("--target takes LABEL=URL")
    labels = [spec.split("=", 1)[0] for spec in args.target]
    labels += ["tempograph"] if args.start_tempograph else []
    labels += [args.baseline] if args.start_peer else []
    labels += ["floor"] if args.floor else []
    if not labels:
        parser.error("nothing to measure: --start-tempograph, --target, --start-peer, --floor")
    if len(set(labels)) != len(labels):
        parser.error(f"labels must differ: {labels}")
    if args.samples < 1 or args.clients < 1 or args.rounds < 1:
        parser.error("--samples, --clients and --rounds must be at least 1")
    args.peer_venv = peer_venv() if args.start_peer else None
    return args


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except BenchError as err:
        sys.exit(f"bench/api.py: {err}")
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)

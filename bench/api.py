"""LangGraph Server API latency and throughput: Tempograph against `langgraph dev`.

    make bench-api ARGS="--start-peer --target tempograph=http://127.0.0.1:8000"
    .venv/bin/python bench/api.py --target peer=http://127.0.0.1:2024 \\
        --target tempograph=http://127.0.0.1:8000

Every target must serve bench/peer/langgraph.json (graphs ``chain3`` and ``approval``);
for Tempograph: ``tempograph up --config bench/peer/langgraph.json``. ``--start-peer``
starts the peer itself: ``langgraph dev`` from its own venv (bench/peer/setup, pinned in
bench/peer/requirements.txt) on a free loopback port, stopped by PID at the end.

Measured with the official ``langgraph_sdk`` async client, per target:
  * threads.create, then runs.wait of chain3 on that new thread (each timed);
  * runs.stream of chain3 (stream_mode "values") on a new thread: time to the first
    event (the run's metadata) and to the first "values" event;
  * interrupt + resume on approval: threads.create, runs.wait (stops at the interrupt),
    runs.wait with Command(resume="yes"), timed as a whole;
  * throughput: C concurrent SDK clients, each looping threads.create + runs.wait of
    chain3 for D seconds; runs completed within the window per second, and errors.
Latency samples interleave the targets (one sample of each per round, the order
alternating), so machine noise hits all of them alike; throughput runs one target at a
time. Before each latency sample the client pauses a random 0..``--pause`` s (untimed):
the peer's in-memory queue polls every 0.5 s, and back-to-back samples would otherwise
lock onto one phase of that poll and measure its best or worst case instead of its
average. Every answer is checked, so a fast wrong answer is an error, never a good time.
Ratios are target / baseline (``--baseline``, default ``peer``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

BENCH = Path(__file__).resolve().parent
PEER_CONFIG = BENCH / "peer" / "langgraph.json"
PEER_SETUP = BENCH / "peer" / "setup"
PEER_ENV = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "true"}
CHAIN_INPUT: dict[str, Any] = {"path": []}
CHAIN_OUTPUT = ["a", "b", "c"]
APPROVAL_OUTPUT = ["ask", "done"]


class BenchError(Exception):
    """A target answered, but not with what the graph produces."""


@dataclass
class Target:
    label: str
    url: str


@dataclass
class Samples:
    """Seconds per sample, by measurement key."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, seconds: float) -> None:
        self.times.setdefault(key, []).append(seconds)


@dataclass
class Throughput:
    completed: int
    errors: int
    duration: float
    latencies: list[float]
    first_errors: list[str]


# --- one sample of each measurement ------------------------------------------------------


def checked(result: Any, expected: list[str], what: str) -> dict[str, Any]:
    """The run's output, if its ``path`` is what the graph produces."""
    if not isinstance(result, dict) or result.get("path") != expected:
        raise BenchError(f"{what}: expected path {expected}, got {result!r}")
    return result


async def wait_sample(client: LangGraphClient, samples: Samples) -> None:
    start = time.perf_counter()
    thread = await client.threads.create()
    created = time.perf_counter()
    result = await client.runs.wait(thread["thread_id"], "chain3", input=CHAIN_INPUT)
    done = time.perf_counter()
    checked(result, CHAIN_OUTPUT, "runs.wait chain3")
    samples.add("create", created - start)
    samples.add("wait", done - created)


async def stream_sample(client: LangGraphClient, samples: Samples) -> None:
    thread = await client.threads.create()
    first: float | None = None
    first_values: float | None = None
    last: Any = None
    start = time.perf_counter()
    async for part in client.runs.stream(
        thread["thread_id"], "chain3", input=CHAIN_INPUT, stream_mode="values"
    ):
        now = time.perf_counter()
        if first is None:
            first = now
        if part.event == "values":
            if first_values is None:
                first_values = now
            last = part.data
        elif part.event == "error":
            raise BenchError(f"runs.stream chain3: error event {part.data!r}")
    if first is None or first_values is None:
        raise BenchError("runs.stream chain3: no values event")
    checked(last, CHAIN_OUTPUT, "runs.stream chain3, last values event")
    samples.add("stream_first", first - start)
    samples.add("stream_values", first_values - start)


async def interrupt_sample(client: LangGraphClient, samples: Samples) -> None:
    start = time.perf_counter()
    thread = await client.threads.create()
    paused = await client.runs.wait(thread["thread_id"], "approval", input=CHAIN_INPUT)
    if not isinstance(paused, dict) or not paused.get("__interrupt__"):
        raise BenchError(f"runs.wait approval: expected __interrupt__, got {paused!r}")
    result = await client.runs.wait(thread["thread_id"], "approval", command={"resume": "yes"})
    samples.add("interrupt", time.perf_counter() - start)
    if checked(result, APPROVAL_OUTPUT, "runs.wait approval, resumed").get("answer") != "yes":
        raise BenchError(f"runs.wait approval, resumed: answer {result!r}")


SampleFn = Callable[[LangGraphClient, Samples], Awaitable[None]]
SAMPLES: tuple[SampleFn, ...] = (wait_sample, stream_sample, interrupt_sample)


async def latencies(
    targets: list[Target], rounds: int, warmup: int, pause: float
) -> dict[str, Samples]:
    clients = {t.label: get_client(url=t.url, api_key=None) for t in targets}
    results = {t.label: Samples() for t in targets}
    try:
        for i in range(warmup + rounds):
            order = targets if i % 2 == 0 else targets[::-1]
            for sample in SAMPLES:
                for target in order:
                    scratch = Samples()
                    await asyncio.sleep(random.uniform(0, pause))
                    try:
                        await sample(clients[target.label], scratch)
                    except (BenchError, httpx.HTTPError) as err:
                        raise BenchError(f"{target.label}: {type(err).__name__}: {err}") from err
                    if i >= warmup:
                        for key, values in scratch.times.items():
                            results[target.label].times.setdefault(key, []).extend(values)
    finally:
        for client in clients.values():
            await client.aclose()
    return results


# --- throughput ----------------------------------------------------------------------------


async def throughput(url: str, clients: int, duration: float) -> Throughput:
    sdk_clients = [get_client(url=url, api_key=None) for _ in range(clients)]
    completed = errors = 0
    run_latencies: list[float] = []
    first_errors: list[str] = []
    deadline = time.perf_counter() + duration

    async def loop(client: LangGraphClient) -> None:
        nonlocal completed, errors
        while (start := time.perf_counter()) < deadline:
            try:
                thread = await client.threads.create()
                result = await client.runs.wait(thread["thread_id"], "chain3", input=CHAIN_INPUT)
                checked(result, CHAIN_OUTPUT, "runs.wait chain3")
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
        await asyncio.gather(*(loop(c) for c in sdk_clients))
    finally:
        for client in sdk_clients:
            await client.aclose()
    return Throughput(completed, errors, duration, run_latencies, first_errors)


# --- the peer ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@contextlib.asynccontextmanager
async def running_peer(venv: Path, extra_args: list[str]) -> AsyncIterator[str]:
    """``langgraph dev`` in its own process group on a free loopback port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="tempograph-peer-") as tmp:
        workdir = Path(tmp)
        config = write_peer_config(PEER_CONFIG, workdir)
        command = [
            str(venv / "bin" / "langgraph"),
            "dev",
            "--config",
            str(config),
            "--no-browser",
            "--no-reload",  # no file watcher; the process we start is the server itself
            "--n-jobs-per-worker",
            "10",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            *extra_args,
        ]
        log_path = workdir / "peer.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *command,
                cwd=workdir,
                env={**os.environ, **PEER_ENV},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            await wait_ok(url, proc, log_path)
            print(f"peer: langgraph dev pid {proc.pid} on {url}", file=sys.stderr)
            yield url
        finally:
            await stop_group(proc)


async def wait_ok(url: str, proc: asyncio.subprocess.Process, log_path: Path) -> None:
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/ok")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(
        f"langgraph dev did not answer /ok at {url}; its log ends:\n{log_tail(log_path)}"
    )


def log_tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]


async def stop_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group we started (the server and anything it spawned), then SIGKILL."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
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


def build_rows(
    samples: dict[str, Samples], through: dict[str, Throughput], clients: int, duration: float
) -> list[Row]:
    rows: list[Row] = []
    names = {
        "create": "threads.create",
        "wait": "runs.wait chain3, new thread",
        "stream_first": "runs.stream chain3: first event (metadata)",
        "stream_values": "runs.stream chain3: first values event",
        "interrupt": "interrupt + resume (create, wait, resume)",
    }
    for key, name in names.items():
        for stat, q in (("median", 0.5), ("p95", 0.95)):
            values = {
                label: pct(s.times[key], q) * 1000 for label, s in samples.items() if key in s.times
            }
            if values:
                rows.append(Row(f"{name}, {stat} ms", values))
    if through:
        load = f"{clients} clients, {duration:g} s"
        rows.append(
            Row(
                f"throughput ({load}), runs/s",
                {label: t.completed / t.duration for label, t in through.items()},
                higher_is_better=True,
            )
        )
        rows.append(
            Row(
                f"  errors ({load})",
                {label: float(t.errors) for label, t in through.items()},
                digits=0,
            )
        )
        for stat, q in (("median", 0.5), ("p95", 0.95)):
            rows.append(
                Row(
                    f"  create + wait under load, {stat} ms",
                    {
                        label: pct(t.latencies, q) * 1000
                        for label, t in through.items()
                        if t.latencies
                    },
                )
            )
    return rows


def render(rows: list[Row], labels: list[str], baseline: str | None) -> str:
    others = [label for label in labels if label != baseline] if baseline else []
    header = ["measurement", *labels]
    for other in others:
        header += [f"{other}/{baseline}", f"{other} beats {baseline}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [row.name]
        cells += [
            f"{row.values[label]:.{row.digits}f}" if label in row.values else "-"
            for label in labels
        ]
        for other in others:
            mine, theirs = row.values.get(other), row.values.get(baseline or "")
            if mine is None or theirs is None:
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


async def describe(target: Target) -> str:
    try:
        async with httpx.AsyncClient(base_url=target.url, timeout=5) as http:
            info = (await http.get("/info")).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as err:
        raise BenchError(f"{target.label}: {target.url}/info: {type(err).__name__}: {err}") from err
    version = info.get("version") if isinstance(info, dict) else None
    return f"{target.label}={target.url} (/info version {version or '?'})"


async def measure(args: argparse.Namespace, targets: list[Target]) -> None:
    for target in targets:
        print(await describe(target), file=sys.stderr)
    print(f"latency: {args.samples} rounds after {args.warmup} warm-up", file=sys.stderr)
    samples = await latencies(targets, args.samples, args.warmup, args.pause)
    through: dict[str, Throughput] = {}
    if args.duration > 0:
        for target in targets:
            print(f"throughput: {target.label}, {args.duration:g} s", file=sys.stderr)
            through[target.label] = await throughput(target.url, args.clients, args.duration)
            for message in through[target.label].first_errors:
                print(f"  {target.label} error: {message}", file=sys.stderr)
    labels = [t.label for t in targets]
    baseline = args.baseline if args.baseline in labels and len(labels) > 1 else None
    rows = build_rows(samples, through, args.clients, args.duration)
    print(render(rows, labels, baseline))


async def main(args: argparse.Namespace) -> None:
    targets = [Target(*spec.split("=", 1)) for spec in args.target]
    main_task = asyncio.current_task()
    assert main_task is not None
    # SIGTERM stops the run like Ctrl-C does, so a started peer is stopped too.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    if args.start_peer:
        async with running_peer(args.peer_venv, args.peer_arg) as url:
            await measure(args, [Target(args.baseline, url), *targets])
    else:
        await measure(args, targets)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="LABEL=URL",
        help="a server to measure (repeatable), e.g. tempograph=http://127.0.0.1:8000",
    )
    parser.add_argument(
        "--start-peer",
        action="store_true",
        help="start `langgraph dev` (the peer) for the run, labelled with --baseline",
    )
    parser.add_argument("--baseline", default="peer", help="label ratios are taken against")
    parser.add_argument("--samples", type=int, default=30, help="latency rounds per target")
    parser.add_argument("--warmup", type=int, default=3, help="unrecorded rounds first")
    parser.add_argument(
        "--pause",
        type=float,
        default=0.5,
        help="random 0..PAUSE s before each latency sample, so samples do not lock onto "
        "a server's polling period; 0 disables",
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument(
        "--duration", type=float, default=20, help="throughput seconds per target; 0 skips"
    )
    parser.add_argument(
        "--peer-arg",
        action="append",
        default=[],
        help="extra `langgraph dev` argument (repeatable; write --peer-arg=--flag)",
    )
    args = parser.parse_args()
    labels = [spec.split("=", 1)[0] for spec in args.target]
    if any("=" not in spec for spec in args.target):
        parser.error("--target takes LABEL=URL")
    if args.start_peer:
        labels.append(args.baseline)
    if not labels:
        parser.error("nothing to measure: give --target LABEL=URL and/or --start-peer")
    if len(set(labels)) != len(labels):
        parser.error(f"labels must differ: {labels}")
    if args.samples < 1 or args.clients < 1:
        parser.error("--samples and --clients must be at least 1")
    args.peer_venv = peer_venv() if args.start_peer else None
    return args


if __name__ == "__main__":
    try:
        asyncio.run(main(parse_args()))
    except BenchError as err:
        sys.exit(f"bench/api.py: {err}")
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(130)

"""Throughput as workers are added: 1, 2 and 3 ``tempograph worker`` processes, on the
rehearsal cluster (``tempograph cluster up``: the real Temporal server's four services on
Postgres) and on the Temporal dev server, side by side, with the CPU each part used.

    .venv/bin/python bench/scale.py                       # both, 3 rounds of 3 x 20 s each
    .venv/bin/python bench/scale.py --only cluster --duration 30 --rounds 2

Each backend gets the same topology: ``tempograph cluster up --workers 1`` (two API
replicas behind HAProxy, Tempograph's embedded Postgres) serving bench/peer/langgraph.json,
with ``--temporal`` pointing it at a dev server started here for the dev column. Workers 2
and 3 are ``tempograph worker`` processes started and stopped (SIGTERM, by PID) here, so the
worker counts alternate within one running stack: 1, 2, 3, then 3, 2, 1 in the next round,
and so on. In each window ``--clients`` loops of threads.create + runs.wait(chain3, three
no-op nodes) run for ``--duration`` s; a run counts if it ended inside the window and its
answer was right. CPU is user + system seconds per part (its process and its children, from
/proc) from the window's start until its last run ended, shown as cores busy over that
time and as ms per run counted. The load generator (this
process) is a part too: on two cores it competes with what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.api import PEER_CONFIG, Server, Throughput, throughput, tree_cpu  # noqa: E402
from tempograph.temporal.devserver import DevServer  # noqa: E402
from tempograph.temporal.processes import free_port  # noqa: E402

PARTS = {  # a process name in endpoints.json -> the part it belongs to
    "temporal ui": "temporal ui",
    "temporal ": "temporal server",
    "temporal's postgres": "temporal's postgres",
    "tempograph's postgres": "tempograph's postgres",
    "worker ": "workers",
    "api replica ": "api replicas",
    "haproxy": "haproxy",
}


def part_of(name: str) -> str:
    for prefix, part in PARTS.items():
        if name == prefix or name.startswith(prefix):
            return part
    return name


@dataclass
class Window:
    workers: int
    through: Throughput
    cpu: dict[str, float]  # part -> CPU seconds from the window's start to its last run's end
    elapsed: float  # that time: the window, and the runs still in flight at its end


@dataclass
class Stack:
    """``cluster up --workers 1`` on ``temporal`` (None: the real server), plus the extra
    workers started here."""

    label: str
    workdir: Path
    temporal: str | None
    api_port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None
    extra: list[asyncio.subprocess.Process] = field(default_factory=list)
    dev_pid: int | None = None

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    def endpoints(self) -> dict[str, object]:
        found: dict[str, object] = json.loads((self.data / "endpoints.json").read_text())
        return found

    async def start(self) -> None:
        env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(self.data)}
        env.pop("DATABASE_URL", None)
        args = ["cluster", "up", "--config", str(PEER_CONFIG), "--workers", "1"]
        args += ["--api-port", str(self.api_port), "--ui-port", str(free_port())]
        args += ["--port", str(free_port())]
        if self.temporal:
            args += ["--temporal", self.temporal]
        log = self.workdir / "cluster.log"
        with log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tempograph.cli", *args, stdout=out, stderr=out, env=env
            )
        deadline = time.monotonic() + 600
        while "tempograph cluster ready" not in log.read_text(errors="replace"):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} did not start:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.5)

    async def workers(self, count: int) -> None:
        """Start or stop extra workers until ``count`` run in all."""
        while 1 + len(self.extra) > count:
            await stop(self.extra.pop())
        while 1 + len(self.extra) < count:
            found = self.endpoints()
            env = {**os.environ, "TEMPOGRAPH_DATA_DIR": str(self.data)}
            env |= {"TEMPORAL_ADDRESS": str(found["temporal"])}
            env |= {"DATABASE_URL": str(found["database"])}
            log = self.workdir / f"extra-worker-{len(self.extra) + 2}.log"
            args = ["worker", "--config", str(PEER_CONFIG), "--metrics-port", "0"]
            with log.open("ab") as out:
                offset = out.tell()
                worker = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tempograph.cli", *args, stdout=out, stderr=out, env=env
                )
            self.extra.append(worker)
            deadline = time.monotonic() + 120
            while "worker ready" not in log.read_bytes()[offset:].decode(errors="replace"):
                if worker.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"extra worker did not start: see {log}")
                await asyncio.sleep(0.3)

    def pids(self) -> dict[str, list[int]]:
        parts: dict[str, list[int]] = defaultdict(list)
        cluster = self.endpoints()["cluster"]
        assert isinstance(cluster, dict)
        for name, pid in cluster.items():
            parts[part_of(name)].append(int(pid))
        parts["workers"] += [w.pid for w in self.extra]
        if self.dev_pid is not None:
            parts["temporal server"].append(self.dev_pid)
        return parts

    def cpu(self) -> dict[str, float]:
        used = {part: sum(tree_cpu(p) for p in pids) for part, pids in self.pids().items()}
        if self.proc is not None:  # its own time: its children are the parts above
            used["cluster up (supervisor)"] = own_cpu(self.proc.pid)
        me = resource.getrusage(resource.RUSAGE_SELF)
        used["load generator"] = me.ru_utime + me.ru_stime
        return used

    async def stop(self) -> None:
        while self.extra:
            await stop(self.extra.pop())
        if self.proc is not None:
            await stop(self.proc)


async def stop(proc: asyncio.subprocess.Process, grace: float = 120) -> None:
    """SIGTERM by PID, then SIGKILL after ``grace`` seconds."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def own_cpu(pid: int) -> float:
    """User + system seconds of ``pid`` alone (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(stack: Stack, args: argparse.Namespace) -> list[Window]:
    server = Server(stack.label, f"http://127.0.0.1:{stack.api_port}")
    windows: list[Window] = []
    try:
        print(f"{stack.label}: warming up", file=sys.stderr)
        await throughput(server, args.clients, args.warmup)
        for i in range(args.rounds):
            for count in args.workers if i % 2 == 0 else args.workers[::-1]:
                await stack.workers(count)
                await asyncio.sleep(1)  # a new worker's first polls
                before, began = stack.cpu(), time.perf_counter()
                through = await throughput(server, args.clients, args.duration)
                after, elapsed = stack.cpu(), time.perf_counter() - began
                cpu = {part: after[part] - before.get(part, 0.0) for part in after}
                windows.append(Window(count, through, cpu, elapsed))
                print(
                    f"{stack.label}, {count} workers, round {i + 1}:"
                    f" {through.completed / args.duration:.1f} runs/s, {through.errors} errors",
                    file=sys.stderr,
                )
    finally:
        await server.close()
    return windows


def render(results: dict[str, list[Window]], duration: float) -> str:
    lines = [
        "| backend | workers | runs/s (median) | vs 1 worker | errors | p50 run (ms) |"
        " CPU cores busy, by part (ms per run) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, windows in results.items():
        counts = sorted({w.workers for w in windows})
        rates = {
            c: [w.through.completed / duration for w in windows if w.workers == c] for c in counts
        }
        base = statistics.median(rates[counts[0]])
        for count in counts:
            mine = [w for w in windows if w.workers == count]
            runs = sum(w.through.completed for w in mine)
            parts: dict[str, float] = defaultdict(float)
            for w in mine:
                for part, seconds in w.cpu.items():
                    parts[part] += seconds
            # Cores busy over the measured time; per run, that rate over the window the
            # runs were counted in.
            measured = sum(w.elapsed for w in mine)
            busy = ", ".join(
                f"{part} {seconds / measured:.2f}"
                f" ({1000 * seconds / measured * duration * len(mine) / max(runs, 1):.0f})"
                for part, seconds in sorted(parts.items(), key=lambda kv: -kv[1])
            )
            total = sum(parts.values()) / measured
            latencies = [x for w in mine for x in w.through.latencies]
            p50 = 1000 * statistics.median(latencies) if latencies else float("nan")
            rate = statistics.median(rates[count])
            lines.append(
                f"| {label} | {count} | {rate:.1f} | {rate / base:.2f} |"
                f" {sum(w.through.errors for w in mine)} | {p50:.0f} |"
                f" total {total:.2f}: {busy} |"
            )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, list[Window]]:
    results: dict[str, list[Window]] = {}
    with tempfile.TemporaryDirectory(prefix="tempograph-scale-") as scratch:
        for backend in args.only:
            workdir = Path(scratch) / backend
            workdir.mkdir()
            dev: DevServer | None = None
            try:
                if backend == "dev":
                    dev = DevServer(workdir / "temporal", port=free_port(), ui_port=None)
                    await dev.start()
                stack = Stack(backend, workdir, dev.address if dev else None)
                if dev is not None and dev.process is not None:
                    stack.dev_pid = dev.process.pid
                try:
                    await stack.start()
                    results[backend] = await measure(stack, args)
                finally:
                    await stack.stop()
            finally:
                if dev is not None:
                    await asyncio.to_thread(dev.stop)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="dev,cluster", help="backends: dev, cluster")
    parser.add_argument("--workers", default="1,2,3", help="worker counts to measure")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    args.only = [b for b in args.only.split(",") if b]
    if set(args.only) - {"dev", "cluster"}:
        parser.error("--only: dev, cluster")
    args.workers = sorted(int(n) for n in args.workers.split(","))
    if not args.workers or args.workers[0] < 1:
        parser.error("--workers: counts of at least 1")
    results = asyncio.run(run(args))
    print(f"\n{args.clients} clients, {args.rounds} x {args.duration:.0f} s per cell\n")
    print(render(results, args.duration))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()

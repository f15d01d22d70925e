"""The local Temporal server: the ``temporal`` CLI's dev server, built from its Go module.

Temporal's binary download cannot be reached from our machines, so the CLI is built with
``go install`` at a pinned release into a cache outside the repository
(``~/.cache/tempograph/bin`` unless ``TEMPOGRAPH_TOOLS_DIR`` says otherwise) and reused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from temporalio.client import Client

from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import SEARCH_ATTRIBUTES
from tempograph.temporal.processes import running, terminate

# v1.5.1 (Temporal server 1.29.1, UI 2.42.1) is the newest release whose go.mod has no
# `replace` directive, so `go install module@version` accepts it.
TEMPORAL_CLI_MODULE = "github.com/temporalio/cli/cmd/temporal"
TEMPORAL_CLI_VERSION = "v1.5.1"


def tools_dir() -> Path:
    default = Path.home() / ".cache" / "tempograph"
    return Path(os.environ.get("TEMPOGRAPH_TOOLS_DIR", str(default)))


def temporal_binary() -> Path:
    explicit = os.environ.get("TEMPOGRAPH_TEMPORAL_BIN")
    return Path(explicit) if explicit else tools_dir() / "bin" / "temporal"


def ensure_temporal_cli() -> Path:
    """The ``temporal`` binary, built with ``go install`` first if it is not there yet."""
    binary = temporal_binary()
    if binary.exists():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise TempographError(
            "building the temporal CLI needs Go; none found on PATH",
            code=ErrorCode.SERVER_UNAVAILABLE,
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": "-mod=mod"}
    proc = subprocess.run(
        [go, "install", f"{TEMPORAL_CLI_MODULE}@{TEMPORAL_CLI_VERSION}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not binary.exists():
        raise TempographError(
            f"go install {TEMPORAL_CLI_MODULE}@{TEMPORAL_CLI_VERSION} failed "
            f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}",
            code=ErrorCode.SERVER_UNAVAILABLE,
        )
    return binary


# In the data dir: the PIDs of the server and of the process that started it.
_PID_FILE = "temporal.pid"
logger = logging.getLogger(__name__)

# The dev server runs one history shard, and each of a shard's task queues polls at most
# 20 times a second by default: after a burst of about 20, every workflow task waited
# ~50 ms for a token, and a timer (a retry's backoff too) about a second. A cluster has
# hundreds of shards, whose limits add up; one shard gets their sum here. Production
# clusters should raise numHistoryShards (and give the database headroom) instead.
DEV_SERVER_RATES = {
    "history.transferProcessorMaxPollRPS": "10000",
    "history.timerProcessorMaxPollRPS": "10000",
    "history.visibilityProcessorMaxPollRPS": "10000",
    "history.outboundProcessorMaxPollRPS": "10000",
    "history.timerProcessorMaxTimeShift": '"20ms"',
    # A deleted execution (an erased thread's) goes once the queues' ack levels pass its
    # close: every second here instead of every 30, so erasure takes seconds.
    "history.transferProcessorUpdateAckInterval": '"1s"',
    "history.visibilityProcessorUpdateAckInterval": '"1s"',
}


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) == 0


class DevServer:
    """A ``temporal server start-dev`` process on loopback, data in a SQLite file."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 7233,
        ui_port: int | None = 8233,
        host: str = "127.0.0.1",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.extra_args = extra_args
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        self.host = host
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self, binary: Path) -> list[str]:
        cmd = [
            str(binary),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            # Write-ahead log, synced at checkpoints: survives a killed server process
            # (only an OS crash can lose the last transactions) and more than doubles
            # run throughput over SQLite's default of a sync per transaction.
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--log-level",
            "error",
        ]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            cmd += ["--ui-ip", self.host, "--ui-port", str(self.ui_port)]
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        # A node's activity goes straight back to the worker that scheduled it, in the
        # workflow task's reply, instead of through a task-queue poll: the benchmark
        # measured about half the per-node cost without it.
        cmd += ["--dynamic-config-value", "system.enableActivityEagerExecution=true"]
        # Likewise a run's first workflow task, when the API starts it on a client a
        # worker of its task queue shares (`tempograph up`): sequential 3-activity
        # workflows measured 69 -> 54 ms, and 64 -> 50 ms of server CPU each.
        cmd += ["--dynamic-config-value", "system.enableEagerWorkflowStart=true"]
        for key, value in DEV_SERVER_RATES.items():
            cmd += ["--dynamic-config-value", f"{key}={value}"]
        return cmd + list(self.extra_args)

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the server process (its output goes to ``temporal.log`` in the data dir)."""
        binary = ensure_temporal_cli()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "temporal.log", "ab") as log:
            self.process = subprocess.Popen(
                self.command(binary),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # The server's PID and ours: a later process stops it only once we are gone.
        (self.data_dir / _PID_FILE).write_text(f"{self.process.pid} {os.getpid()}")
        return self.process

    def stop_leftover(self) -> int | None:
        """Stop the server a previous process started on this data dir and could not stop
        (it was SIGKILLed, or the machine ran out of memory): by the PID it recorded, and
        only while that PID still runs a dev server on this data dir. Its PID, if so."""
        try:
            pid, owner = map(int, (self.data_dir / _PID_FILE).read_text().split())
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        ours = b"start-dev" in args and str(self.data_dir / "temporal.db").encode() in args
        if not ours or not running(pid) or running(owner):
            return None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if running(pid):
            os.kill(pid, signal.SIGKILL)
        logger.warning(
            "stopped the Temporal dev server (pid %d) that an earlier process left running on %s",
            pid,
            self.data_dir,
        )
        return pid

    async def start(self, ready_within: float = 60.0) -> None:
        """Start the server and return once it answers; raises with its output if not."""
        await asyncio.to_thread(self.stop_leftover)
        if _port_taken(self.host, self.port):
            raise TempographError(
                f"port {self.port} on {self.host} is already in use; stop what listens there "
                "or pass another --port",
                code=ErrorCode.SERVER_UNAVAILABLE,
            )
        process = await asyncio.to_thread(self.spawn)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ready_within
        while True:
            if process.poll() is not None:
                tail = (self.data_dir / "temporal.log").read_text(errors="replace")[-2000:]
                raise TempographError(
                    f"temporal dev server exited with {process.returncode}: {tail}",
                    code=ErrorCode.SERVER_UNAVAILABLE,
                )
            try:
                await Client.connect(self.address)
                return
            except RuntimeError:
                if loop.time() > deadline:
                    self.stop()
                    raise TempographError(
                        f"temporal dev server did not answer on {self.address} in {ready_within}s",
                        code=ErrorCode.SERVER_UNAVAILABLE,
                    ) from None
                await asyncio.sleep(0.2)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server we started (by its PID) and wait for it."""
        if self.process is not None:
            terminate(self.process, timeout)
            (self.data_dir / _PID_FILE).unlink(missing_ok=True)

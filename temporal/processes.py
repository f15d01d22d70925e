"""Processes a command starts and owns (``tempograph cluster up``'s): each logs to a
file, is started in its own session, and is stopped by its PID, never by name."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tempograph.errors import ErrorCode, TempographError

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port for a server we start, below the kernel's ephemeral range
    (32768 and up): a port some other server takes meanwhile with bind(0) (the Temporal
    dev server's HTTP and internal ports) is never it, and Temporal keeps its services'
    ports in a smallint column (cluster_membership.rpc_port). Never the same port twice
    in one process."""
    for _ in range(500):
        port = random.randint(20000, 32000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise TempographError("no free port below 32768", code=ErrorCode.SERVER_UNAVAILABLE)


@dataclass
class Process:
    """A process we started, logging to a file; stopped by its PID, never by name."""

    name: str
    args: Sequence[str]
    log: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None  # run as this user (and its group): needs root
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    offset: int = 0  # the log's size when it last started: its output starts there

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                list(self.args),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,  # Ctrl-C reaches us; we stop it in order
                user=self.user,
                group=self.user,
            )

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is not None:
            terminate(self.proc, grace)

    def output(self) -> str:
        """What it printed since it last started."""
        try:
            with self.log.open("rb") as log:
                log.seek(self.offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""


def terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM ``proc`` by its PID and wait; SIGKILL it if it outlives ``grace`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def running(pid: int) -> bool:
    """Whether ``pid`` runs (Linux /proc): a zombie, where nothing reaps orphans, does not."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def wait_port(port: int, process: Process, within: float = 90.0) -> None:
    """Until something accepts on 127.0.0.1:``port``; an error with the log's end if the
    process dies or the time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if not process.alive():
            break
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    state = "exited" if not process.alive() else "did not listen"
    raise TempographError(
        f"{process.name} {state} (port {port}); its log ends:\n{process.tail()}",
        code=ErrorCode.SERVER_UNAVAILABLE,
    )

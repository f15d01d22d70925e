"""Sandboxed nodes: each attempt of a node with policy ``sandbox: true`` (or of every node
on a worker started with ``tempograph worker --sandbox``) runs in a child process:

* a scrubbed environment: only ``PATH``, the locale and time zone, a ``HOME`` and
  ``TMPDIR`` of its own, and the names listed in ``TEMPOGRAPH_SANDBOX_ENV``; never
  ``DATABASE_URL``, encryption keys or API keys (unless listed);
* resource limits: CPU seconds (``RLIMIT_CPU``) and address space (``RLIMIT_AS``);
* its own temporary working directory, removed afterwards;
* no network: a new network namespace (only a loopback that is down) where the kernel
  allows one (root, or unprivileged user namespaces); otherwise the node runs with the
  host's network and the worker logs why, once.

The child loads the node's graph from its file, as the worker did, runs the node with
the same input and LangGraph config (``interrupt()`` works; the memory store, custom
stream writes and callbacks do not cross the process boundary), and sends back its
output, writes and interrupts, or its error with whether a retry may fix it. Temporal's
retries apply as to any node.

``python -m tempograph.activities.sandbox`` is the child's side.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import os
import resource
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PASSED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_network_warned = False


@dataclass
class SandboxCall:
    """What the child needs: the graph to load, the node, its input and config."""

    graph_id: str
    path: str
    attr: str
    defaults: dict[str, Any]
    nodes: dict[str, Any]
    dependencies: list[str]
    activity_type: str
    input: Any
    configurable: dict[str, Any]
    metadata: dict[str, Any]
    tags: list[str]
    resume: list[Any]
    null_resume: Any
    checkpoint_ns: str
    task_id: str
    step: int
    stop: int
    context: Any
    cpu_seconds: float
    memory_mb: int


@dataclass
class SandboxOutcome:
    output: Any = None
    writes: list[tuple[str, Any]] = field(default_factory=list)
    interrupts: list[Any] = field(default_factory=list)
    error_type: str | None = None
    message: str = ""
    retryable: bool = True
    consumed_null_resume: bool = False
    network: str = ""


class SandboxLimitExceeded(Exception):
    """The child was stopped by one of its resource limits."""


# -- the worker's side -----------------------------------------------------------------


def _scrubbed_env(home: str) -> dict[str, str]:
    allowed = {*_PASSED}
    allowed.update(
        name.strip()
        for name in os.environ.get("TEMPOGRAPH_SANDBOX_ENV", "").split(",")
        if name.strip()
    )
    env = {name: os.environ[name] for name in allowed if name in os.environ}
    env.update(HOME=home, TMPDIR=home, PYTHONDONTWRITEBYTECODE="1")
    return env


async def run_sandboxed(call: SandboxCall) -> SandboxOutcome:
    """Run ``call`` in a child process (see the module docstring); cancelling this kills
    the child."""
    from tempograph.workflows.serde import serializer

    serde = serializer()
    _, request = serde.dumps_typed({f: getattr(call, f) for f in call.__dataclass_fields__})
    with tempfile.TemporaryDirectory(prefix="tempograph-sandbox-") as home:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tempograph.activities.sandbox",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_scrubbed_env(home),
            cwd=home,
        )
        try:
            out, err = await child.communicate(request)
        except BaseException:
            if child.returncode is None:
                child.kill()
                await child.wait()
            raise
    if child.returncode != 0 or not out:
        return _died(child.returncode, err, call)
    answer = serde.loads_typed(("msgpack", out))
    outcome = SandboxOutcome(**answer)
    _note_network(outcome.network)
    return outcome


def _died(code: int | None, stderr: bytes, call: SandboxCall) -> SandboxOutcome:
    import signal

    if code is not None and code < 0 and -code in (signal.SIGXCPU, signal.SIGKILL):
        what = (
            f"its CPU time limit ({call.cpu_seconds:g} s)"
            if -code == signal.SIGXCPU
            else "a kill (its memory limit, or the system's)"
        )
        return SandboxOutcome(
            error_type=SandboxLimitExceeded.__name__,
            message=f"the sandboxed node was stopped by {what}",
            retryable=False,
        )
    tail = stderr.decode(errors="replace").strip().splitlines()[-5:]
    return SandboxOutcome(
        error_type="SandboxFailed",
        message=f"the sandboxed node's process ended with code {code}: {' | '.join(tail)}",
        retryable=True,
    )


def _note_network(network: str) -> None:
    global _network_warned
    if network and network != "isolated" and not _network_warned:
        _network_warned = True
        logger.warning("sandboxed nodes keep the host's network here: %s", network)


# -- the child's side ------------------------------------------------------------------


def _isolate_network() -> str:
    """A new network namespace for this process: "isolated", or why not."""
    libc = ctypes.CDLL(None, use_errno=True)
    for flags in (_CLONE_NEWNET, _CLONE_NEWUSER | _CLONE_NEWNET):
        if libc.unshare(flags) == 0:
            return "isolated"
    return f"no new network namespace ({os.strerror(ctypes.get_errno())})"


def _limit(cpu_seconds: float, memory_mb: int) -> None:
    # RLIMIT_CPU counts from the process's start: the node's seconds come on top of what
    # starting this child (its imports) took, which on a loaded machine can be seconds.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(usage.ru_utime + usage.ru_stime) + max(1, int(cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # SIGXCPU's default action dumps core: where core dumps are on, writing one spends the
    # extra second and the kernel's SIGKILL comes first. A sandboxed node leaves no core.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    memory = int(memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _child() -> None:
    # The answer goes to the original stdout; the node's own prints go to stderr.
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    from tempograph.workflows.serde import serializer

    raw = sys.stdin.buffer.read()
    request = serializer().loads_typed(("msgpack", raw))
    call = SandboxCall(**request)
    network = _isolate_network()
    _limit(call.cpu_seconds, call.memory_mb)
    outcome = asyncio.run(_run(call))
    outcome.network = network
    _, data = serializer().dumps_typed(
        {f: getattr(outcome, f) for f in outcome.__dataclass_fields__}
    )
    with os.fdopen(answer_fd, "wb") as answer:
        answer.write(data)


async def _run(call: SandboxCall) -> SandboxOutcome:
    from pathlib import Path

    from langchain_core.runnables.config import var_child_runnable_config
    from langgraph._internal._constants import (
        CONFIG_KEY_CHECKPOINT_NS,
        CONFIG_KEY_RUNTIME,
        CONFIG_KEY_SCRATCHPAD,
        CONFIG_KEY_SEND,
        CONFIG_KEY_TASK_ID,
    )
    from langgraph.errors import GraphInterrupt
    from langgraph.runtime import Runtime

    from tempograph.activities.attempt import error_message, is_retryable, new_scratchpad
    from tempograph.identity import as_user
    from tempograph.registry import GraphSpec, load_graph

    for path in reversed(call.dependencies):
        if path not in sys.path:
            sys.path.insert(0, path)
    spec = GraphSpec(call.graph_id, Path(call.path), call.attr, call.defaults, call.nodes)
    durable = load_graph(spec)
    target = durable.targets[call.activity_type]
    consumed: list[bool] = []
    writes: list[tuple[str, Any]] = []
    configurable = dict(call.configurable)
    if "langgraph_auth_user" in configurable:  # the run's caller, as in any node
        configurable["langgraph_auth_user"] = as_user(configurable["langgraph_auth_user"])
    configurable.update(
        {
            CONFIG_KEY_SCRATCHPAD: new_scratchpad(
                call.step, call.stop, call.resume, call.null_resume, lambda: consumed.append(True)
            ),
            CONFIG_KEY_CHECKPOINT_NS: call.checkpoint_ns,
            CONFIG_KEY_TASK_ID: call.task_id,
            CONFIG_KEY_RUNTIME: Runtime(context=call.context),
            CONFIG_KEY_SEND: writes.extend,
        }
    )
    config: Any = {"configurable": configurable, "metadata": call.metadata, "tags": call.tags}
    var_child_runnable_config.set(config)
    runnable = target.runnable
    assert runnable is not None, f"{call.activity_type} is not a node"
    try:
        output = await runnable.ainvoke(call.input, config)
    except GraphInterrupt as interrupt:
        return SandboxOutcome(
            interrupts=list(interrupt.args[0]), writes=writes, consumed_null_resume=bool(consumed)
        )
    except Exception as exc:  # noqa: BLE001 - every error goes back to the worker
        retryable = is_retryable(
            exc, target.retry_on, target.policy.retry.non_retryable_error_types
        )
        return SandboxOutcome(
            error_type=type(exc).__name__, message=error_message(exc), retryable=retryable
        )
    return SandboxOutcome(output=output, writes=writes, consumed_null_resume=bool(consumed))


if __name__ == "__main__":
    _child()

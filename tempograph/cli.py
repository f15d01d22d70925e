"""The ``tempograph`` command.

Exit codes of ``run`` and ``resume``: 0 the run finished, 1 it failed, 2 bad input
(nothing was changed), 3 it stopped at an interrupt, 4 the stack cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tempograph.autoscale import parse_bounds
from tempograph.cluster import cluster_up
from tempograph.commands import _audit, _keys, _resume, _run, _state
from tempograph.console import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    _err,
    _say,
)
from tempograph.errors import ErrorCode, TempographError
from tempograph.serve import _api, _dev_server, _serve_worker, _up
from tempograph.settings import Settings

if TYPE_CHECKING:
    pass


def default_config() -> Path:
    """The mission's demo graph: ``../shared/acceptance/langgraph.json`` beside the repo."""
    repo = Path(__file__).resolve().parent.parent
    return repo.parent / "shared" / "acceptance" / "langgraph.json"


# -- entry point -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tempograph", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="dev server + worker (+ API) in the foreground")
    up.add_argument("--config", type=Path, default=None, help="langgraph.json (default: demo)")
    up.add_argument("--port", type=int, default=7233, help="Temporal gRPC port")
    up.add_argument("--ui-port", type=int, default=8233, help="Temporal UI port")
    up.add_argument("--api-port", type=int, default=8000, help="HTTP API port")

    cluster = sub.add_parser("cluster", help="a production rehearsal on one machine")
    cluster_sub = cluster.add_subparsers(dest="cluster_command", required=True)
    cluster_up = cluster_sub.add_parser(
        "up", help="real Temporal server + UI, workers, API replicas behind HAProxy"
    )
    cluster_up.add_argument("--config", type=Path, default=None, help="langgraph.json")
    cluster_up.add_argument("--workers", type=int, default=3, help="worker processes")
    cluster_up.add_argument("--api-replicas", type=int, default=2, help="API processes")
    cluster_up.add_argument("--port", type=int, default=7233, help="Temporal frontend port")
    cluster_up.add_argument("--ui-port", type=int, default=8233, help="Temporal UI port")
    cluster_up.add_argument("--api-port", type=int, default=8000, help="the API's port")
    cluster_up.add_argument(
        "--autoscale",
        metavar="MIN:MAX",
        default=None,
        help="worker processes per task queue, sized to its backlog (instead of --workers)",
    )
    cluster_up.add_argument(
        "--temporal",
        metavar="ADDRESS",
        default=None,
        help="use the Temporal already at ADDRESS (a dev server, your cluster) instead of"
        " starting the real server and its UI",
    )

    api = sub.add_parser("api", help="the HTTP API alone (needs Temporal running)")
    api.add_argument("--config", type=Path, default=None, help="langgraph.json (default: demo)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)

    dev = sub.add_parser("dev-server", help="the Temporal dev server alone")
    dev.add_argument("--port", type=int, default=7233)
    dev.add_argument("--ui-port", type=int, default=8233)

    worker = sub.add_parser("worker", help="a worker for the graphs in a langgraph.json")
    worker.add_argument("--config", type=Path, required=True)
    worker.add_argument(
        "--node-queues",
        default="all",
        help="node task queues to serve: 'all' (default, beside the main queue), 'none' "
        "(main queue only), or a comma list (a node pool: only those, no workflows)",
    )
    worker.add_argument(
        "--sandbox",
        action="store_true",
        help="run every node's attempts in a sandboxed child process (scrubbed environment,"
        " CPU and memory limits, own temp dir, no network)",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics on this port (default: TEMPOGRAPH_METRICS_PORT or"
        " 9464; 0 for none)",
    )
    worker.add_argument(
        "--build-id",
        default=None,
        help="join a Temporal Worker Deployment as this version, runs pinned to the version"
        " they started on; 'auto' derives it from the code (default: TEMPOGRAPH_BUILD_ID;"
        " unset: an unversioned worker)",
    )
    worker.add_argument(
        "--deployment",
        default=None,
        help="the Worker Deployment's name (default: TEMPOGRAPH_DEPLOYMENT, else the task queue)",
    )
    worker.add_argument(
        "--promote",
        action="store_true",
        help="make this worker's version the deployment's current one: new runs start on it",
    )

    run = sub.add_parser("run", help="run a graph on the running stack")
    run.add_argument("graph")
    run.add_argument("--input", required=True, help="the graph input, as JSON")
    run.add_argument(
        "--thread", type=_thread_name, default=None, help="thread id (default: a new thread)"
    )
    run.add_argument("--recursion-limit", type=int, default=None)

    resume = sub.add_parser("resume", help="answer the interrupt a thread is waiting at")
    resume.add_argument("thread", type=_thread_name)
    resume.add_argument("--value", required=True, help="the answer, as JSON")

    state = sub.add_parser("state", help="a thread's current state, as JSON")
    state.add_argument("thread", type=_thread_name)
    state.add_argument("--history", action="store_true", help="include checkpoint history")
    keys = sub.add_parser("keys", help="built-in API keys (TEMPOGRAPH_AUTH=keys)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="a new key; prints its secret once")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--role", required=True, choices=["viewer", "approver", "operator", "admin"]
    )
    create.add_argument("--name", default=None)
    listing = keys_sub.add_parser("list", help="keys (never their secrets), as JSON")
    listing.add_argument("--tenant", default=None)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    audit = sub.add_parser("audit", help="the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="check the hash chain; exit 1 if it is broken")
    return parser


def _thread_name(text: str) -> str:
    """A thread's name or id: not blank (an empty --thread is a mistake, not a new thread)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("a thread name cannot be empty")
    return text


def _config_arg(args: argparse.Namespace) -> Path:
    path: Path = (args.config or default_config()).resolve()
    if not path.exists():
        raise TempographError(
            f"config {path} does not exist; pass --config langgraph.json",
            code=ErrorCode.CONFIG_INVALID,
        )
    return path


def project_settings(args: argparse.Namespace) -> Settings:
    """The settings a command runs with: given a project's ``langgraph.json``, its data
    (Postgres, keys, Temporal's database) lives beside it, wherever the command runs from."""
    config: Path | None = getattr(args, "config", None)
    return Settings.from_env(config.resolve().parent if config is not None else None)


def _encryption(settings: Settings, *, create: bool) -> Any:
    """The key ring this process encrypts with (see :mod:`tempograph.crypto`): from the
    environment, else the data directory's key file (which ``up`` makes). It is put in
    this process's environment, where every value store and data converter finds it."""
    import base64

    from tempograph.crypto import KeyRing, new_key_file

    ring = KeyRing.load(settings.data_dir)
    if ring is None and create:
        ring = new_key_file(settings.data_dir)
    if ring is not None and "TEMPOGRAPH_ENCRYPTION_KEYS" not in os.environ:
        os.environ["TEMPOGRAPH_ENCRYPTION_KEYS"] = ",".join(
            f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in ring.keys
        )
    return ring


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # What nodes print reaches the output line by line, also when it is not a terminal.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    settings = project_settings(args)
    commands: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "up": lambda: _up(settings, _config_arg(args), args.port, args.ui_port, args.api_port),
        "api": lambda: _api(settings, _config_arg(args), args.host, args.port),
        "dev-server": lambda: _dev_server(settings, args.port, args.ui_port),
        "worker": lambda: _serve_worker(
            settings,
            _config_arg(args),
            lambda graphs: _say(f"worker ready: queue {settings.task_queue!r}, graphs {graphs}"),
            node_queues=args.node_queues,
            sandbox=args.sandbox,
            metrics_port=settings.metrics_port if args.metrics_port is None else args.metrics_port,
            build_id=args.build_id or settings.build_id,
            deployment=args.deployment or settings.deployment,
            promote=args.promote,
        ),
        "run": lambda: _run(settings, args),
        "resume": lambda: _resume(settings, args),
        "state": lambda: _state(settings, args),
        "cluster": lambda: cluster_up(
            settings,
            _config_arg(args),
            workers=args.workers,
            api_replicas=args.api_replicas,
            port=args.port,
            ui_port=args.ui_port,
            api_port=args.api_port,
            autoscale=parse_bounds(args.autoscale) if args.autoscale else None,
            temporal_address=args.temporal,
        ),
        "keys": lambda: _keys(settings, args),
        "audit": lambda: _audit(settings, args),
    }
    try:
        if args.command in ("up", "api", "worker", "cluster"):
            from tempograph import logformat
            from tempograph.telemetry import setup_tracing

            logformat.configure()
            setup_tracing(f"tempograph-{args.command}")
        _encryption(settings, create=args.command in ("up", "cluster"))
        result = asyncio.run(commands[args.command]())
    except TempographError as err:
        _err(f"error: {err.message}")
        if err.code == ErrorCode.SERVER_UNAVAILABLE:
            return EXIT_UNAVAILABLE
        if err.code in (ErrorCode.RUN_FAILED, ErrorCode.GRAPH_LOAD_FAILED):
            return EXIT_FAILED
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_OK
    return int(result) if isinstance(result, int) else EXIT_OK


def entrypoint() -> None:
    """Console script: exit without interpreter finalization racing Temporal's core threads.

    The Rust runtime behind the Temporal client keeps native threads; a normal exit
    finalizes Python under them and can abort (exit 134) after the answer was printed.
    """
    code = main()
    from tempograph.telemetry import shutdown

    shutdown()  # os._exit skips atexit: send the spans still batched
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entrypoint()

"""``tempograph cluster up``: a production rehearsal on one machine, all on loopback.

The real Temporal server (four service processes on their own Postgres, schema and
namespace set up) and its standalone UI (:mod:`tempograph.temporal.cluster`), Tempograph's
database (``DATABASE_URL``, else the embedded Postgres ``tempograph up`` uses), ``N``
``tempograph worker`` processes, ``M`` ``tempograph api`` replicas, and HAProxy in front
of the replicas on the API's port. The addresses are ``tempograph up``'s: Temporal on
7233, the UI on 8233, the API on 8000. It prints a line with ``ready`` once every part
accepts work, and stops everything, by PID and in order, on Ctrl-C. ``--temporal ADDRESS``
uses a Temporal that already runs instead (the scaling benchmark's dev server column).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tempograph.autoscale import Autoscaler, Pool
from tempograph.console import ENDPOINTS_FILE, _say, _stop_requested
from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import Settings
from tempograph.temporal.cluster import TemporalCluster
from tempograph.temporal.processes import Process, free_port, wait_port

if TYPE_CHECKING:
    from tempograph.database import EmbeddedPostgres

TEMPOGRAPH = [sys.executable, "-m", "tempograph.cli"]


def haproxy_config(port: int, replicas: list[int]) -> str:
    """Round robin over the replicas, each health-checked on ``/ok`` every second; long
    timeouts for streams and ``runs.wait`` (a stream cut by a replica's death resumes on
    another with ``Last-Event-ID``)."""
    servers = "\n".join(
        f"    server api{i} 127.0.0.1:{p} check inter 1s fall 2 rise 1"
        for i, p in enumerate(replicas, start=1)
    )
    return f"""global
    maxconn 4096
    log stderr format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    option redispatch
    retries 2
    # A new connection to a replica per request (clients keep theirs): a request is never
    # sent on a kept connection to a replica that died since, so a refused connect is
    # retried on the other replica before anything was sent (a POST cannot be after).
    option http-server-close
frontend api
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /ok
{servers}
"""


def _haproxy() -> str:
    return shutil.which("haproxy") or "/usr/sbin/haproxy"


async def _api_ready(url: str, process: Process, within: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with httpx.AsyncClient(timeout=2) as http:
        while loop.time() < deadline and process.alive():
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{url}/ok?check_db=1")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise TempographError(
        f"{process.name} did not answer at {url}; its log ends:\n{process.tail()}",
        code=ErrorCode.SERVER_UNAVAILABLE,
    )


async def _worker_ready(process: Process, within: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline and process.alive():
        if "worker ready" in process.output():
            return
        await asyncio.sleep(0.3)
    raise TempographError(
        f"{process.name} did not become ready; its log ends:\n{process.tail()}",
        code=ErrorCode.SERVER_UNAVAILABLE,
    )


async def cluster_up(
    settings: Settings,
    config_path: Path,
    *,
    workers: int = 3,
    api_replicas: int = 2,
    port: int = 7233,
    ui_port: int = 8233,
    api_port: int = 8000,
    autoscale: tuple[int, int] | None = None,
    temporal_address: str | None = None,
) -> None:
    """With ``temporal_address``, a Temporal already running there (a dev server, a
    cluster of yours) serves instead of the real server started here, and no UI starts."""
    from temporalio.client import Client

    from tempograph.database import EmbeddedPostgres

    if workers < 1 or api_replicas < 1:
        raise TempographError(
            "--workers and --api-replicas must be at least 1", code=ErrorCode.CONFIG_INVALID
        )
    stop = _stop_requested()
    root = settings.data_dir / "cluster"
    logs = root / "logs"
    temporal = TemporalCluster(
        root / "temporal",
        frontend_port=port,
        ui_port=ui_port,
        codec_endpoint=f"http://127.0.0.1:{api_port}/codec",
    )
    address = temporal_address or temporal.address
    if not (0 < port < 32768):
        raise TempographError(
            f"--port {port}: the real Temporal server keeps its ports in a smallint column;"
            " choose one below 32768",
            code=ErrorCode.CONFIG_INVALID,
        )
    processes: list[Process] = []
    embedded: list[EmbeddedPostgres] = []
    scaler: list[Autoscaler] = []
    replicas = [free_port() for _ in range(api_replicas)]

    async def start_all() -> str:
        """Everything, in order; Tempograph's database URL."""
        _say("tempograph cluster up: a production rehearsal, loopback only")
        if temporal_address is None:
            await temporal.start()
            _say(f"temporal server (4 services) on {address}, UI http://127.0.0.1:{ui_port}")
        else:
            _say(f"temporal: the one at {address} (--temporal), no UI started here")
        database_url = settings.database_url
        if database_url is None:
            embedded.append(EmbeddedPostgres(settings.data_dir / "postgres"))
            database_url = await asyncio.to_thread(embedded[0].start)
        env = {**os.environ, "TEMPORAL_ADDRESS": address, "DATABASE_URL": database_url}
        if temporal_address is None:  # our UI: its links, and its codec calls allowed
            env["TEMPOGRAPH_TEMPORAL_UI_URL"] = f"http://127.0.0.1:{ui_port}"
            origins = [*settings.codec_origins, f"http://127.0.0.1:{ui_port}"]
            env["TEMPOGRAPH_CODEC_ORIGINS"] = ",".join(origins)
        worker_command = [*TEMPOGRAPH, "worker", "--config", str(config_path)]
        worker_command += ["--metrics-port", "0"]
        if autoscale is None:
            for i in range(1, workers + 1):
                worker = Process(f"worker {i}", worker_command, logs / f"worker-{i}.log", env=env)
                processes.append(worker)
                worker.start()
        else:

            def spawn(pool: Pool) -> Process:
                pool.started += 1
                name = f"worker {pool.queue} {pool.started}"
                log = logs / f"worker-{pool.queue}-{pool.started}.log"
                worker = Process(name, [*worker_command, *pool.args], log, env=env)
                worker.start()
                return worker

            client = await Client.connect(address)
            scaler.append(Autoscaler(client, _pools(settings, config_path), autoscale, spawn, _say))
            scaler[0].fill()
        for i, replica_port in enumerate(replicas, start=1):
            api = Process(
                f"api replica {i}",
                [*TEMPOGRAPH, "api", "--config", str(config_path), "--port", str(replica_port)],
                logs / f"api-{i}.log",
                env=env,
            )
            processes.append(api)
            api.start()
        for process in [*processes, *(scaler[0].live() if scaler else [])]:
            if process.name.startswith("worker"):
                await _worker_ready(process)
        apis = [p for p in processes if p.name.startswith("api replica")]
        for process, replica_port in zip(apis, replicas, strict=True):
            await _api_ready(f"http://127.0.0.1:{replica_port}", process)
        proxy_config = root / "haproxy.cfg"
        proxy_config.write_text(haproxy_config(api_port, replicas))
        proxy = Process("haproxy", [_haproxy(), "-f", str(proxy_config)], logs / "haproxy.log")
        processes.append(proxy)
        proxy.start()
        await wait_port(api_port, proxy)
        await _api_ready(f"http://127.0.0.1:{api_port}", proxy)
        return database_url

    try:
        # Ctrl-C during start-up stops what has started, as after it.
        starting = asyncio.ensure_future(start_all())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        database_url = starting.result()
        endpoints = settings.data_dir / ENDPOINTS_FILE

        def owned() -> list[Process]:
            """What runs now (a draining worker is on its way out: not restarted)."""
            return [*temporal.processes, *processes, *(scaler[0].live() if scaler else [])]

        def publish() -> None:
            """Where everything is, and the PID of every process running now (for
            `tempograph run` and friends, and for chaos tests), replaced whole."""
            pids = {p.name: p.pid for p in owned()}
            if embedded:
                pids["tempograph's postgres"] = embedded[0].pid()
            found = {
                "api": f"http://127.0.0.1:{api_port}",
                "temporal": address,
                "database": database_url,
                "cluster": {name: pid for name, pid in pids.items() if pid is not None},
            }
            partial = endpoints.with_suffix(".json.new")
            partial.write_text(json.dumps(found))
            partial.replace(endpoints)

        publish()
        revivers = [Reviver(database) for database in embedded]
        count = (
            f"{workers} workers"
            if autoscale is None
            else f"{autoscale[0]} to {autoscale[1]} workers per task queue"
        )
        _say(
            f"tempograph cluster ready: API http://127.0.0.1:{api_port} (HAProxy over"
            f" {api_replicas} replicas), {count}, Temporal {address}"
            + (f", UI http://127.0.0.1:{ui_port}" if temporal_address is None else "")
            + f"; logs in {logs}"
        )
        # Like an orchestrator, restart what dies (a crash, or a chaos test's SIGKILL).
        while not stop.is_set():
            for process in owned():
                if not process.alive():
                    _say(f"{process.name} exited; restarting it")
                    process.start()
                    publish()
            if any(reviver.check() for reviver in revivers):
                publish()
            if scaler and await scaler[0].step():
                publish()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
    finally:
        _say("tempograph cluster: stopping")
        pooled = [*scaler[0].live(), *scaler[0].draining] if scaler else []
        for process in reversed([*processes, *pooled]):
            await asyncio.to_thread(process.stop)
        await asyncio.to_thread(temporal.stop)
        for database in embedded:
            await asyncio.to_thread(database.stop)
        (settings.data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)


class Reviver:
    """Restarts the embedded Postgres when it dies, in a thread, one attempt at a time:
    the supervision loop goes on meanwhile (and a stop is not held up by it)."""

    def __init__(self, database: EmbeddedPostgres) -> None:
        self.database = database
        self.attempt: asyncio.Future[None] | None = None

    def check(self) -> bool:
        """Start an attempt if it is down (again at once after a failed one); True when
        one has ended (publish the PID)."""
        ended = False
        if self.attempt is not None:
            if not self.attempt.done():
                return False
            failed, self.attempt, ended = self.attempt.exception(), None, True
            if failed is not None:  # e.g. its killed backends still hold shared memory
                _say(f"tempograph's postgres did not start yet ({failed}); retrying")
        if self.database.pid() is None:
            if not ended:
                _say("tempograph's postgres exited; restarting it")
            self.attempt = asyncio.ensure_future(asyncio.to_thread(self.database.revive))
        return ended


def _pools(settings: Settings, config_path: Path) -> list[Pool]:
    """A pool per task queue the project uses: the main one (workflows and the nodes
    without a queue of their own) and each node policy's ``task_queue``."""
    from tempograph.registry import load_project, read_config

    graphs, _ = load_project(read_config(config_path))
    queues = {q for g in graphs.values() for q in g.task_queues}
    node_queues = sorted(queues - {settings.task_queue})
    main = Pool(settings.task_queue, ["--node-queues", "none"] if node_queues else [])
    return [main, *(Pool(q, ["--node-queues", q]) for q in node_queues)]

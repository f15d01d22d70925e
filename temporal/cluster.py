"""The real Temporal server on one machine, for ``tempograph cluster up``: its four
services as four processes on a Postgres of its own, the schema, the namespace and our
search attributes, and the standalone UI.

Built by ``scripts/setup`` from their Go modules (the release binaries cannot be
downloaded here) into the tools cache: ``go.temporal.io/server/cmd/server`` and its SQL
schema tool at v1.29.1, ``github.com/temporalio/ui-server/v2/cmd/server`` at v2.42.1.
Temporal's visibility schema needs ``btree_gin``, which the ``pgserver`` wheel's Postgres
lacks: Debian's ``postgresql`` package (15) serves Temporal; Tempograph's own data stays
where ``tempograph up`` keeps it (``DATABASE_URL``, else the embedded Postgres).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tempograph.errors import ErrorCode, TempographError
from tempograph.settings import SEARCH_ATTRIBUTES
from tempograph.temporal.cluster_postgres import TemporalPostgres, postgres_bin, private_file
from tempograph.temporal.devserver import temporal_binary, tools_dir
from tempograph.temporal.processes import Process, free_port, wait_port

SERVICES = ("history", "matching", "frontend", "worker")  # started in this order
NAMESPACE_RETENTION = "72h"


def server_binary() -> Path:
    return tools_dir() / "temporal-server" / "bin" / "server"


def sql_tool_binary() -> Path:
    return tools_dir() / "temporal-server" / "bin" / "sql"


def ui_binary() -> Path:
    return tools_dir() / "temporal-ui" / "bin" / "server"


def _missing(what: str) -> TempographError:
    return TempographError(
        f"tempograph cluster up needs {what}: run ./scripts/setup",
        code=ErrorCode.SERVER_UNAVAILABLE,
    )


def require_tools() -> None:
    for binary, what in (
        (server_binary(), "the Temporal server (go.temporal.io/server/cmd/server)"),
        (sql_tool_binary(), "Temporal's SQL schema tool"),
        (ui_binary(), "the Temporal UI server"),
        (temporal_binary(), "the temporal CLI"),
    ):
        if not binary.exists():
            raise _missing(what)
    postgres_bin()
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        raise _missing("HAProxy (apt-get install haproxy)")


def server_config(pg: TemporalPostgres, ports: dict[str, int], dynamic: Path) -> str:
    """The server's YAML: persistence on ``pg``, each service on its ports, loopback."""
    stores = []
    for name, database, conns in (
        ("default", "temporal", 20),
        ("visibility", "temporal_visibility", 4),
    ):
        stores.append(
            f"""    {name}:
      sql:
        pluginName: postgres12
        databaseName: {database}
        connectAddr: "127.0.0.1:{pg.port}"
        connectProtocol: tcp
        user: {pg.USER}
        password: "{pg.password}"
        maxConns: {conns}
        maxIdleConns: {conns}
        maxConnLifetime: 1h"""
        )
    services = []
    for service in SERVICES:
        http = f"\n      httpPort: {ports['frontend-http']}" if service == "frontend" else ""
        services.append(
            f"""  {service}:
    rpc:
      grpcPort: {ports[service]}
      membershipPort: {ports[service + "-membership"]}
      bindOnLocalHost: true{http}"""
        )
    return f"""log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
{chr(10).join(stores)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
{chr(10).join(services)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:{ports["frontend"]}
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: {dynamic}
  pollInterval: 10s
"""


# What the dev server runs with (temporal/devserver.py) that a cluster needs set too.
DYNAMIC_CONFIG = """system.enableActivityEagerExecution:
  - value: true
system.enableEagerWorkflowStart:
  - value: true
frontend.enableUpdateWorkflowExecution:
  - value: true
frontend.workerVersioningWorkflowAPIs:
  - value: true
system.enableDeploymentVersions:
  - value: true
limit.maxIDLength:
  - value: 255
"""


@dataclass
class TemporalCluster:
    """The four services, their Postgres and the UI, under ``root``."""

    root: Path
    frontend_port: int = 7233
    ui_port: int = 8233
    codec_endpoint: str | None = None
    processes: list[Process] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.frontend_port}"

    async def start(self) -> None:
        require_tools()
        pg = TemporalPostgres(self.root / "postgres", free_port())
        self.processes.append(pg.process)
        await pg.start()
        await asyncio.to_thread(self._schema, pg)
        ports = {"frontend": self.frontend_port}
        for service in SERVICES:
            ports.setdefault(service, free_port())
            ports[service + "-membership"] = free_port()
        ports["frontend-http"] = free_port()
        config = self.root / "config"
        config.mkdir(parents=True, exist_ok=True)
        dynamic = config / "dynamic.yaml"
        dynamic.write_text(DYNAMIC_CONFIG)
        # Readable by its owner only: it holds the database password.
        private_file(config / "cluster.yaml", server_config(pg, ports, dynamic))
        for service in SERVICES:
            process = Process(
                f"temporal {service}",
                [
                    str(server_binary()),
                    "--root",
                    str(self.root),
                    "--config",
                    "config",
                    "--env",
                    "cluster",
                    "--allow-no-auth",
                    "start",
                    "--service",
                    service,
                ],
                self.root / "logs" / f"{service}.log",
            )
            self.processes.append(process)
            process.start()
            # One at a time: services starting together on a new database race to write
            # the cluster's metadata, and the losers exit. A service is up once it joins
            # the ring on its membership port (the worker service serves no gRPC).
            await wait_port(ports[service + "-membership"], process, within=120)
        frontend = next(p for p in self.processes if p.name == "temporal frontend")
        await wait_port(self.frontend_port, frontend, within=120)
        await self._namespace()
        self._start_ui()
        await wait_port(self.ui_port, self.processes[-1])

    def _schema(self, pg: TemporalPostgres) -> None:
        """Create the two databases and bring their schemas up to date (idempotent)."""
        env = {**os.environ, "SQL_PASSWORD": pg.password}
        base = [
            str(sql_tool_binary()),
            "--plugin",
            "postgres12",
            "--ep",
            "127.0.0.1",
            "-p",
            str(pg.port),
            "-u",
            pg.USER,
        ]
        for database, schema in (
            ("temporal", "postgresql/v12/temporal"),
            ("temporal_visibility", "postgresql/v12/visibility"),
        ):
            marker = pg.root / f"{database}.schema"
            steps = [] if marker.exists() else [["create-database"], ["setup-schema", "-v", "0.0"]]
            steps.append(["update-schema", "--schema-name", schema])
            for step in steps:
                done = subprocess.run(
                    [*base, "--db", database, *step],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode != 0 and "already exists" not in done.stderr + done.stdout:
                    raise TempographError(
                        f"temporal schema ({database}: {' '.join(step)}) failed:"
                        f" {(done.stderr or done.stdout).strip()[-2000:]}",
                        code=ErrorCode.SERVER_UNAVAILABLE,
                    )
            marker.touch()

    async def _namespace(self) -> None:
        """The ``default`` namespace (the real server makes none) and our search
        attributes, retried while the frontend finishes joining its cluster."""
        cli = [str(temporal_binary()), "--address", self.address]
        commands = [
            [
                "operator",
                "namespace",
                "create",
                "--namespace",
                "default",
                "--retention",
                NAMESPACE_RETENTION,
            ]
        ]
        # One at a time: given several --name, the CLI adds only the first to SQL
        # visibility (and says all were added).
        create = ["operator", "search-attribute", "create", "--namespace", "default"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            commands.append([*create, "--name", name, "--type", kind])
        loop = asyncio.get_running_loop()
        for command in commands:
            deadline = loop.time() + 90
            while True:
                done = await asyncio.to_thread(
                    subprocess.run, [*cli, *command], capture_output=True, text=True, check=False
                )
                output = done.stderr + done.stdout
                if done.returncode == 0 or "already" in output.lower():
                    break
                if loop.time() > deadline:
                    raise TempographError(
                        f"temporal {' '.join(command[:3])} failed: {output.strip()[-1500:]}",
                        code=ErrorCode.SERVER_UNAVAILABLE,
                    )
                await asyncio.sleep(1)
        # Runs set these from their first task: wait until the server shows them all.
        listing = [*cli, "operator", "search-attribute", "list", "--namespace", "default"]
        deadline = loop.time() + 60
        while True:
            done = await asyncio.to_thread(
                subprocess.run, listing, capture_output=True, text=True, check=False
            )
            if all(name in done.stdout for name in SEARCH_ATTRIBUTES):
                return
            if loop.time() > deadline:
                raise TempographError(
                    f"search attributes {sorted(SEARCH_ATTRIBUTES)} did not appear:"
                    f" {(done.stderr or done.stdout).strip()[-1500:]}",
                    code=ErrorCode.SERVER_UNAVAILABLE,
                )
            await asyncio.sleep(1)

    def _start_ui(self) -> None:
        config = self.root / "ui" / "config"
        config.mkdir(parents=True, exist_ok=True)
        codec = (
            f"codec:\n  endpoint: {self.codec_endpoint}\n  includeCredentials: false\n"
            if self.codec_endpoint
            else ""
        )
        (config / "cluster.yaml").write_text(
            f"temporalGrpcAddress: {self.address}\n"
            f"host: 127.0.0.1\nport: {self.ui_port}\n"
            "enableUi: true\ndefaultNamespace: default\n"
            f"cors:\n  allowOrigins:\n    - http://127.0.0.1:{self.ui_port}\n" + codec
        )
        process = Process(
            "temporal ui",
            [str(ui_binary()), "--root", str(self.root / "ui"), "--env", "cluster", "start"],
            self.root / "logs" / "ui.log",
        )
        self.processes.append(process)
        process.start()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

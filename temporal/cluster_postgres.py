"""Temporal's own Postgres for ``tempograph cluster up``: Debian's ``postgresql``
package (Temporal's visibility schema needs ``btree_gin``, which the ``pgserver`` wheel
lacks), its data and a random password under the cluster's folder, TCP on loopback."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
from pathlib import Path

from tempograph.errors import ErrorCode, TempographError
from tempograph.temporal.processes import Process, wait_port


def postgres_bin() -> Path:
    """Debian's Postgres binaries (the newest installed major version)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        raise TempographError(
            "tempograph cluster up needs Debian's postgresql package: run ./scripts/setup",
            code=ErrorCode.SERVER_UNAVAILABLE,
        )
    return found[-1].parent


class TemporalPostgres:
    """Temporal's own Postgres (Debian's), its data under ``root``, on a loopback port.
    Run as the ``postgres`` system user when we are root (Postgres refuses root)."""

    USER = "temporal"

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.password_file = root / "password"
        self.process = Process("temporal's postgres", [], root / "postgres.log")

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["runuser", "-u", "postgres", "--", *args]

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def initialize(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the postgres user must reach its folder
            for parent in [self.root, *self.root.parents]:
                parent.chmod(parent.stat().st_mode | 0o011)
        self.password_file.write_text(secrets.token_urlsafe(24))
        self.password_file.chmod(0o600)
        pwfile = self.root / "initdb.pw"
        pwfile.write_text(self.password)
        self.data.mkdir(mode=0o700)
        self._own(self.data)
        self._own(pwfile)
        try:
            done = subprocess.run(
                self._as_owner(
                    [
                        str(postgres_bin() / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        self.USER,
                        "--auth=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "-E",
                        "UTF8",
                        "--no-locale",
                    ]
                ),
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise TempographError(
                f"initdb failed: {done.stderr.strip()[-2000:]}", code=ErrorCode.SERVER_UNAVAILABLE
            )

    async def start(self) -> None:
        self.initialize()
        self.process.args = self._as_owner(
            [
                str(postgres_bin() / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",  # TCP on loopback only (a deep data dir's
                # socket path would pass the 107-byte limit)
                "-c",
                "max_connections=200",
            ]
        )
        self.process.start()
        await wait_port(self.port, self.process)

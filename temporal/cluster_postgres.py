"""Temporal's own Postgres for ``tempograph cluster up``: Debian's ``postgresql``
package (Temporal's visibility schema needs ``btree_gin``, which the ``pgserver`` wheel
lacks), its data and a random password under the cluster's folder, TCP on loopback."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
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

    @staticmethod
    def _user() -> str | None:
        """Whom Postgres runs as: ``postgres`` when we are root (signals then reach it
        directly: a stop is its own fast shutdown, not a wrapper's kill)."""
        return "postgres" if os.geteuid() == 0 else None

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def initialize(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the postgres user must reach its folder (as pgserver does)
            for parent in [self.root, *self.root.parents]:
                parent.chmod(parent.stat().st_mode | 0o011)
        private_file(self.password_file, secrets.token_urlsafe(24))
        pwfile = self.root / "initdb.pw"
        private_file(pwfile, self.password)
        shutil.rmtree(self.data, ignore_errors=True)  # what a failed initdb left
        self.data.mkdir(mode=0o700)
        self._own(self.data)
        self._own(pwfile)
        try:
            done = subprocess.run(
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
                ],
                capture_output=True,
                text=True,
                check=False,
                user=self._user(),
                group=self._user(),
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise TempographError(
                f"initdb failed: {done.stderr.strip()[-2000:]}", code=ErrorCode.SERVER_UNAVAILABLE
            )

    async def start(self) -> None:
        self.initialize()
        self.process.user = self._user()
        self.process.args = [
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
        self.process.start()
        await wait_port(self.port, self.process)


def private_file(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, from its creation on."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)

"""A throw-away PostgreSQL server for tests: its own cluster in a temporary folder, on 127.0.0.1.

The server binaries come from the Debian package `postgresql` (`make test-deps`
installs it). PostgreSQL refuses to run as root, so under root the cluster
belongs to the `postgres` system user that the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MISSING = ("PostgreSQL server binaries (initdb, pg_ctl) not found; "
           "install the Debian package with `apt-get install --no-install-recommends postgresql` or run `make test-deps`")


@dataclass
class PostgresServer:
    folder: Path
    port: int
    bin_dir: Path
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://genre@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / program), *arguments]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120)


def server_binaries() -> Path:
    """Return the folder that contains initdb and pg_ctl; raise RuntimeError naming the package when none does."""
    found = shutil.which("initdb")
    candidates = [Path(found).parent] if found else []
    candidates += [Path(path).parent for path in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    for folder in candidates:
        if (folder / "pg_ctl").exists():
            return folder
    raise RuntimeError(MISSING)


def start_server() -> PostgresServer:
    bin_dir = server_binaries()
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="genre-postgres-"))
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    os.chmod(folder, 0o700)
    server = PostgresServer(folder, _free_port(), bin_dir, user)
    try:
        server._run("initdb", "-D", str(folder / "data"), "-U", "genre", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} -c fsync=off"
        server._run("pg_ctl", "-D", str(folder / "data"), "-o", options, "-l", str(folder / "server.log"), "-w", "start")
    except subprocess.CalledProcessError as error:
        log_file = folder / "server.log"
        details = log_file.read_text() if log_file.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {error.stderr or error.stdout}\n{details}") from error
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

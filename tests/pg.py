"""A real PostgreSQL server for tests: Debian's initdb + pg_ctl on a free port in a temp dir.

Killable and restartable like tests.support.RedisServer. Outside CI a machine without the
binaries skips the PostgreSQL half of the ledger tests (`apt-get install postgresql`);
under CI=true their absence fails the test instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import eventually, free_port, missing

INSTALL_HINT = "apt-get install -y postgresql (Debian; .ci/run installs it)"


def pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<v>/bin with initdb and pg_ctl, else initdb on PATH."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]),
                            reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def require_pg_bindir() -> Path:
    bindir = pg_bindir()
    if bindir is None:
        missing("PostgreSQL's server binaries (initdb, pg_ctl)", INSTALL_HINT)
    return bindir


def _demote() -> tuple[int, int] | None:
    """PostgreSQL refuses to run as root: as root, run it as `nobody`-like user `postgres` if present."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return pw.pw_uid, pw.pw_gid
    raise RuntimeError("running as root and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresServer:
    """initdb'd cluster in `workdir`, started on a free loopback port; stop, kill and restart at will."""

    def __init__(self, workdir: Path, bindir: Path) -> None:
        self.workdir = workdir
        self.bindir = bindir
        self.datadir = workdir / "data"
        self.port = free_port()
        self.ids = _demote()
        self.user = "navstream"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/navstream"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kw = {}
        if self.ids:
            uid, gid = self.ids
            kw = {"user": uid, "group": gid, "extra_groups": []}
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], check=check, capture_output=True,
                              text=True, timeout=60, **kw)

    def init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.ids:
            os.chown(self.workdir, *self.ids)
        self._run("initdb", "-D", str(self.datadir), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")

    def start(self) -> None:
        # after a kill, the dead server's backends may hold its shared memory for a moment: retry
        eventually(self._start_once, timeout=30, interval=0.5, message=f"pg_ctl start on port {self.port}")
        eventually(self._ready, timeout=30, message=f"PostgreSQL on port {self.port}")
        if not self._exists():
            self._psql("postgres", "CREATE DATABASE navstream")

    def _start_once(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.workdir / "postgres.log"), "-w",
                         "-t", "30", "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                         "-c fsync=off", "start", check=False).returncode == 0

    def _ready(self) -> bool:
        return self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode == 0

    def _psql(self, db: str, sql: str) -> str:
        return self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", db,
                         "-tAc", sql).stdout

    def _exists(self) -> bool:
        return self._psql("postgres", "SELECT 1 FROM pg_database WHERE datname='navstream'").strip() == "1"

    def pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        return int(pidfile.read_text().split()[0]) if pidfile.exists() else None

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)

    def kill(self) -> None:
        """SIGKILL the postmaster (crash): the next start recovers from the WAL."""
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGKILL)
            eventually(lambda: not _alive(pid), timeout=10, message="the killed postmaster to be gone")
        # its backends die when they notice the postmaster is gone; start() retries until they have

    def restart(self) -> None:
        self.stop()
        self.start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _server() -> PostgresServer:
    """A server in its own folder under the system temp dir (PostgreSQL runs as another user when we are root,
    and pytest's tmp_path is private to us)."""
    workdir = Path(tempfile.mkdtemp(prefix="navstream-pg-"))
    os.chmod(workdir, 0o755)
    server = PostgresServer(workdir / "pg", require_pg_bindir())
    server.init()
    server.start()
    return server


def _remove(server: PostgresServer) -> None:
    server.stop()
    shutil.rmtree(server.workdir.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session; each test gets its own database on it (`database_url`)."""
    server = _server()
    yield server
    _remove(server)


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to kill and restart."""
    server = _server()
    yield server
    _remove(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on embedded SQLite and on a real PostgreSQL server (a fresh database each)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'record.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server._psql("postgres", f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://{server.user}@127.0.0.1:{server.port}/{name}"


def database_url_for(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> str:
    """`database_url` for a test that starts its own server (`postgres` fixture) when kind is postgresql."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'record.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.url

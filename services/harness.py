"""Run navstream's processes under control: a real redis-server on a free port that can be
killed, frozen and restarted, `python -m services.<name>` children with their logs, `navstream up`
as a child, and `eventually()` to wait for what they do.

The tests (through tests/support.py), `navstream bench` and the soak use these; nothing here
reads the tests or anything outside the installed packages.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import redis

from services.supervisor import redis_server_binary
from shared.redis_url import url_with_password

ROOT = Path(__file__).resolve().parents[1]
"""The folder holding the `services` and `shared` packages (the checkout, or site-packages)."""
CONFIG_DIR = ROOT / "config"
T = TypeVar("T")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
               message: str = "condition") -> T:
    """Poll `condition` until it returns something truthy; fail with `message` after `timeout` s.

    Exceptions inside `condition` count as "not yet" (the last one is shown on failure).
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - "not yet", reported if it never passes
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                                 + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


class RedisServer:
    """A real redis-server on a free loopback port, in its own temp dir; kill/stop/restart at will."""

    def __init__(self, workdir: Path, *, appendonly: bool = True, password: str | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.appendonly = appendonly
        self.password = password
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return url_with_password(f"redis://127.0.0.1:{self.port}/0", self.password)

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "", "--daemonize", "no",
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
                "--logfile", str(self.workdir / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        eventually(lambda: self.client().ping(), timeout=10, message=f"redis-server on {self.port}")

    def client(self, **kw) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, **kw)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self, *, wipe: bool = False) -> None:
        self.stop()
        if wipe:
            for f in self.workdir.glob("*"):
                if f.name != "redis.log":
                    shutil.rmtree(f) if f.is_dir() else f.unlink()
        self.start()


def terminate(proc: subprocess.Popen | None, timeout: float) -> tuple[int | None, bool]:
    """SIGTERM `proc` and wait; SIGKILL it after `timeout`. Returns (exit code, stopped in time)."""
    if proc is None:
        return None, True
    if proc.poll() is not None:
        return proc.returncode, True
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout), True
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5), False


class ServiceProcess:
    """`python -m services.<name>` as a child process, with its stderr kept in a log file."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path, args: list[str] | None = None) -> None:
        self.name = name
        self.env = env
        self.args = args or []
        self.log_path = logdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its life
        self.proc = subprocess.Popen([sys.executable, "-m", f"services.{self.name}", *self.args],
                                     cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def stop(self, timeout: float = 10.0) -> int | None:
        code, in_time = terminate(self.proc, timeout)
        assert in_time, f"{self.name} did not stop within {timeout}s of SIGTERM"
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def service_env(redis_url: str, tmp: Path, **overrides: str | int | float) -> dict[str, str]:
    """Environment for a service under test: its own Redis, state dirs and fast intervals."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "NAVSTREAM_"))}
    env.update({
        "REDIS_URL": redis_url,
        "MODE": "sim",
        "STATE_DIR": str(tmp / "state"),
        "DASHBOARD_STATE_DIR": str(tmp / "dashboard_state"),
        "HOLDINGS_FILE": str(tmp / "holdings.json"),
        "COINGECKO_IDS_FILE": str(CONFIG_DIR / "coingecko_ids.json"),
        "PRICE_INTERVAL_S": "0.5",
        "ACCOUNT_INTERVAL_S": "1",
        "LOG_LEVEL": "INFO",
        "METRICS_PORT_BASE": "0",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    return env


class NavstreamUp:
    """`navstream up` as a child process in `workdir`, against a given Redis."""

    def __init__(self, redis_url: str, workdir: Path, **env_overrides: str | int | float) -> None:
        self.workdir = workdir
        holdings = workdir / "holdings.json"
        if not holdings.exists():
            holdings.write_bytes((CONFIG_DIR / "offexchange_holdings.json").read_bytes())
        self.env = service_env(redis_url, workdir, MARKETSIM_PORT=free_port(), DASH_PORT=free_port(),
                               **env_overrides)
        self.out_path = workdir / "up.out"
        self.proc: subprocess.Popen | None = None

    def start(self) -> NavstreamUp:
        out = open(self.out_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", "up"], cwd=self.workdir,
                                     env=self.env, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        return self

    @property
    def state_dir(self) -> Path:
        return Path(self.env["STATE_DIR"])

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int | None:
        return terminate(self.proc, timeout)[0]


# --- a private PostgreSQL server (Debian's initdb + pg_ctl), for tests and benchmarks ----------

def pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<v>/bin with initdb and pg_ctl, else initdb on PATH."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]),
                            reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


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

    def __init__(self, workdir: Path, bindir: Path, *, fsync: bool = False) -> None:
        self.workdir = workdir
        self.bindir = bindir
        self.fsync = fsync              # off for tests (speed); the benchmark runs it on, as deployed
        self.datadir = workdir / "data"
        self.port = free_port()
        self.ids = _demote()
        self.user = "navstream"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/navstream"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        uid, gid = self.ids if self.ids else (None, None)
        return subprocess.run([str(self.bindir / args[0]), *args[1:]], check=check, capture_output=True,
                              text=True, timeout=60, user=uid, group=gid,
                              extra_groups=[] if self.ids else None)

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
                         f"-c fsync={'on' if self.fsync else 'off'}", "start", check=False).returncode == 0

    def _ready(self) -> bool:
        return self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), check=False).returncode == 0

    def psql(self, db: str, sql: str) -> str:
        """Run one SQL statement with psql as the cluster's superuser; its unaligned output."""
        return self._psql(db, sql)

    def create_database(self, name: str) -> str:
        """A new empty database on this server; its SQLAlchemy URL."""
        self._psql("postgres", f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

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


def start_postgres(bindir: Path, *, fsync: bool = False) -> PostgresServer:
    """An initdb'd server in its own folder under the system temp dir, started (PostgreSQL runs as another
    user when we are root, so the folder is world-readable); `remove_postgres` stops and deletes it."""
    workdir = Path(tempfile.mkdtemp(prefix="navstream-pg-"))
    os.chmod(workdir, 0o755)
    server = PostgresServer(workdir / "pg", bindir, fsync=fsync)
    server.init()
    server.start()
    return server


def remove_postgres(server: PostgresServer) -> None:
    server.stop()
    shutil.rmtree(server.workdir.parent, ignore_errors=True)

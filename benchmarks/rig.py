"""The system under test: its own redis-server, marketsim (the futures account), the real nav and publisher.

Everything runs as it does in production: `python -m services.<name>` processes with
the environment `services.harness.service_env` builds, default intervals, the nav on the
`live` path (marketsim's simulated account, three positions; marketsim's router fills
are switched off so only price updates drive the pipeline).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import psutil
import redis
import requests

from shared.contracts.prices import PriceObservation, encode_latest
from shared.keys import GROUP_NAV, GROUP_PUBLISHER, Keys
from services.harness import ROOT, RedisServer, ServiceProcess, free_port, service_env

from benchmarks.synthetic import write_holdings

KEYS = Keys()
START_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """The rig could not run a phase (a service died, never caught up, ...)."""


def _mb(rss: int) -> float:
    return round(rss / 2**20, 1)


class ProfiledService(ServiceProcess):
    """`python -m benchmarks.cpu_profile PROFILE services.<name>`: cProfile on CPU time (not wall time, which
    a blocking read dominates); the stats are written when the service stops."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path, profile: Path) -> None:
        super().__init__(name, env, logdir)
        self.profile = profile

    def start(self) -> ProfiledService:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.profile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.cpu_profile", str(self.profile),
                                          f"services.{self.name}"],
                                         cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self


class Rig:
    def __init__(self, workdir: Path, *, instruments: int, aof: bool, profile_dir: Path | None = None) -> None:
        self.workdir = workdir
        self.aof = aof
        self.instruments = instruments
        self.redis = RedisServer(workdir / "redis", appendonly=aof)
        self.holdings_path = workdir / "holdings.json"
        self.procs: dict[str, ServiceProcess] = {}
        self.env: dict[str, str] = {}
        self.r: redis.Redis | None = None
        self.profile_dir = profile_dir

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> Rig:
        self.redis.start()
        self.r = self.redis.client()
        write_holdings(self.holdings_path, self.instruments)
        self.env = service_env(self.redis.url, self.workdir, MARKETSIM_PORT=free_port(),
                               PRICE_INTERVAL_S="1", ACCOUNT_INTERVAL_S="5", MARKETSIM_FILL_INTERVAL_S="0",
                               DISPLAY_CURRENCY="ZAR", LOG_LEVEL="INFO", KEY_PREFIX="hedge", MANUAL_NAV="")
        logs = self.workdir / "logs"
        self.procs["marketsim"] = ServiceProcess("marketsim", self.env, logs).start()
        sim = f"http://127.0.0.1:{self.env['MARKETSIM_PORT']}"
        self.wait_for(lambda: requests.get(f"{sim}/_sim/faults", timeout=1).ok, "marketsim to answer")
        # marketsim's accounts hold USDC wallets: without a USDC price their value is unknown (partial),
        # and no pricer runs here. nav seeds it from hedge:prices:latest, as the pricer would leave it.
        self.r.hset(KEYS.prices_latest, "USDC", encode_latest(PriceObservation("USDC", 1.0, "coingecko", time.time())))
        for name in ("nav", "publisher"):
            self.procs[name] = (ProfiledService(name, self.env, logs, self.profile_dir / f"{name}.prof")
                                if self.profile_dir else ServiceProcess(name, self.env, logs)).start()
        self.wait_for(lambda: self._newest_snapshot_ok(self.instruments, source="live"),
                   f"a live nav snapshot with {self.instruments} holdings")
        self.wait_for(lambda: self.r.exists(KEYS.state_nav), "the publisher's first hedge:state:nav")
        return self

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            try:
                proc.stop(timeout=10)
            except AssertionError as exc:  # ServiceProcess.stop: did not stop on SIGTERM, was killed
                print(f"bench: {exc}", flush=True)
        self.redis.stop()

    def add_service(self, name: str, **env: str) -> ServiceProcess:
        proc = ServiceProcess(name, dict(self.env, **env), self.workdir / "logs").start()
        self.procs[name] = proc
        return proc

    def wait_for(self, cond, what: str, timeout: float = START_TIMEOUT_S) -> None:
        """Poll `cond` (exceptions count as "not yet"); a dead service or the timeout is a BenchError."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                if cond():
                    return
            except (redis.RedisError, requests.RequestException, KeyError, orjson.JSONDecodeError):
                pass  # not up yet, or nothing published yet: poll again
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {timeout:g} s waiting for {what}; "
                                 f"service logs are in {self.workdir / 'logs'}")
            time.sleep(0.05)

    def check_alive(self) -> None:
        """Raise BenchError naming a service that exited (with the end of its log)."""
        for name, proc in self.procs.items():
            if not proc.alive():
                tail = "\n".join(proc.log_text().splitlines()[-15:])
                raise BenchError(f"service {name} exited with code {proc.proc.returncode}; "
                                 f"last lines of {proc.log_path}:\n{tail}")

    # --- observations ------------------------------------------------------------------------
    def processes(self) -> dict[str, psutil.Process]:
        out = {name: psutil.Process(p.pid) for name, p in self.procs.items() if p.alive()}
        if self.redis.proc is not None:
            out["redis"] = psutil.Process(self.redis.proc.pid)
        return out

    def rss_mb(self) -> dict[str, float]:
        return {name: _mb(p.memory_info().rss) for name, p in self.processes().items()}

    def cpu_s(self) -> dict[str, float]:
        """User+system CPU seconds per process, including this (the bench) process as "bench"."""
        out = {name: sum(p.cpu_times()[:2]) for name, p in self.processes().items()}
        out["bench"] = sum(psutil.Process().cpu_times()[:2])
        return out

    def newest_snapshot(self) -> tuple[bytes, dict] | None:
        last = self.r.xrevrange(KEYS.nav, count=1)
        if not last:
            return None
        entry_id, fields = last[0]
        return entry_id, orjson.loads(fields[b"snapshot"])

    def _newest_snapshot_ok(self, n: int, source: str | None = None) -> bool:
        got = self.newest_snapshot()
        if got is None:
            return False
        doc = got[1]
        return len(doc["aum"]["offexchange"]) == n and (source is None or doc["source"] == source)

    def backlog(self, stream: str = KEYS.prices, group: str = GROUP_NAV) -> int:
        """Entries of `stream` the group has not acknowledged yet: not yet delivered (lag) + pending.

        Uses XINFO GROUPS only (XINFO STREAM would ship the first and last entries, which on
        hedge:nav are whole snapshots). Redis's lag is exact as long as no unread entry was
        trimmed, which the throughput phase's backlog limit guarantees.
        """
        for g in self.r.xinfo_groups(stream):
            if g["name"] in (group, group.encode()):
                lag = g.get("lag")
                if lag is None:  # Redis cannot tell (entries deleted): compare ids instead
                    last = self.r.xinfo_stream(stream)["last-generated-id"]
                    lag = 0 if g["last-delivered-id"] == last else 1
                return int(lag) + int(g["pending"])
        raise BenchError(f"consumer group {group!r} is missing on {stream}")

    def wait_drained(self, timeout: float = 60.0, *, stream: str = KEYS.prices, group: str = GROUP_NAV,
                     poll_s: float = 0.001) -> float:
        """Wait until `group` has acknowledged everything on `stream`; returns the wall time it was seen."""
        deadline = time.monotonic() + timeout
        while True:
            if self.backlog(stream, group) == 0:
                return time.time()
            if time.monotonic() > deadline:
                self.check_alive()
                raise BenchError(f"consumer group {group!r} still has {self.backlog(stream, group)} entries "
                                 f"of {stream} unacknowledged after {timeout:g} s")
            time.sleep(poll_s)

    def counters(self) -> dict[str, int | None]:
        """Redis's own counters: entries ever added to hedge:prices and hedge:nav, entries the nav group read."""
        nav_read = None
        for g in self.r.xinfo_groups(KEYS.prices):
            if g["name"] in (GROUP_NAV, GROUP_NAV.encode()):
                nav_read = g.get("entries-read")
        return {"prices_added": self.r.xinfo_stream(KEYS.prices)["entries-added"],
                "snapshots_added": self.r.xinfo_stream(KEYS.nav)["entries-added"],
                "nav_read": nav_read}

    def publisher_drained(self, timeout: float = 60.0) -> float:
        return self.wait_drained(timeout, stream=KEYS.nav, group=GROUP_PUBLISHER)

    # --- changing the instrument count -------------------------------------------------------
    def set_instruments(self, n: int, timeout: float = 60.0) -> None:
        """Rewrite the holdings file with N assets and wait for the nav to publish a snapshot of N holdings."""
        self.instruments = n
        write_holdings(self.holdings_path, n)
        self.wait_for(lambda: self._newest_snapshot_ok(n), f"a nav snapshot with {n} holdings", timeout=timeout)

    def memory(self) -> dict:
        """Redis INFO memory and the footprint of the pipeline's keys (MEMORY USAGE, all samples)."""
        info = self.r.info("memory")
        keys = {KEYS.prices: "hedge:prices", KEYS.nav: "hedge:nav", KEYS.prices_latest: "hedge:prices:latest",
                KEYS.prices_sources: "hedge:prices:sources", KEYS.state_nav: "hedge:state:nav",
                KEYS.nav_history: "hedge:nav:1m"}
        by_key = {}
        for key, label in keys.items():
            usage = self.r.memory_usage(key, samples=0)
            by_key[label] = None if usage is None else round(usage / 2**20, 2)
        return {
            "used_memory_mb": round(info["used_memory"] / 2**20, 1),
            "used_memory_peak_mb": round(info["used_memory_peak"] / 2**20, 1),
            "by_key_mb": by_key,
            "stream_lengths": {"hedge:prices": self.r.xlen(KEYS.prices), "hedge:nav": self.r.xlen(KEYS.nav)},
        }

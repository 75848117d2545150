"""The system at rest: `navstream up` with the default intervals, its footprint and snapshot latency.

Starts its own redis-server and `navstream up` (marketsim, pricer, nav, publisher, ledger,
dashboard under the supervisor), waits for every heartbeat and a settling time, then over a
window reads each process's CPU seconds (psutil cpu_times, user + system: less sensitive to
the machine's other load than wall time) and samples its RSS once a second. The same window
times snapshots: for every entry the pricer adds to hedge:prices, the time until the next
hedge:nav entry (both stream ids are Redis's clock, so no clock skew enters).

Run with the default 2 accounts (marketsim's main and sub1, config/accounts.json) and again
with 20 (marketsim MARKETSIM_EXTRA_ACCOUNTS=18 and an accounts file naming them): the
latency of the two is compared. The footprint targets count the navstream Python processes
(the supervisor and its children); redis-server is shown beside them.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from services.harness import NavstreamUp, RedisServer, eventually, free_port
from shared.keys import SERVICES, Keys
from shared.settings import Settings

from benchmarks.stats import summary

KEYS = Keys()
ACCOUNTS_LARGE = 20
START_TIMEOUT_S = 90.0


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def accounts_doc(n: int) -> dict:
    """An accounts file for `n` accounts: main and sub1 as shipped, then marketsim's acct02, acct03, ..."""
    doc = {"main": {"exchange": "binanceusdm", "api_key_env": "BINANCE_API_KEY",
                    "api_secret_env": "BINANCE_API_SECRET"},
           "sub1": {"exchange": "binanceusdm", "api_key_env": "BINANCE_SUB1_API_KEY",
                    "api_secret_env": "BINANCE_SUB1_API_SECRET"}}
    for i in range(2, n):
        name = f"acct{i:02d}"
        doc[name] = {"exchange": "binanceusdm", "api_key_env": f"BINANCE_{name.upper()}_API_KEY",
                     "api_secret_env": f"BINANCE_{name.upper()}_API_SECRET"}
    return doc


def _name_of(proc: psutil.Process) -> str:
    cmd = proc.cmdline()
    if "services.cli" in cmd:
        return "supervisor"
    for arg in cmd:
        if arg.startswith("services."):
            return arg.removeprefix("services.")
    return proc.name()


class System:
    """`navstream up` at the default intervals against its own redis-server, with `accounts` accounts."""

    def __init__(self, workdir: Path, accounts: int) -> None:
        self.workdir = workdir
        self.accounts = accounts
        self.redis = RedisServer(workdir / "redis", appendonly=False)
        self.up: NavstreamUp | None = None

    def start(self) -> System:
        defaults = Settings.model_fields
        self.redis.start()
        env: dict[str, str | int | float] = {
            "PRICE_INTERVAL_S": defaults["price_interval_s"].default,
            "ACCOUNT_INTERVAL_S": defaults["account_interval_s"].default,
            # metrics on, as by default, on ports of their own (base + 1..9)
            "METRICS_PORT_BASE": min(free_port() // 10 * 10, 64990),
        }
        if self.accounts != 2:
            path = self.workdir / "accounts.json"
            path.write_text(json.dumps(accounts_doc(self.accounts), indent=1))
            env.update(ACCOUNTS_FILE=str(path), MARKETSIM_EXTRA_ACCOUNTS=self.accounts - 2)
        self.up = NavstreamUp(self.redis.url, self.workdir, **env).start()
        r = self.redis.client()
        eventually(lambda: all(r.exists(KEYS.health(s)) for s in SERVICES), timeout=START_TIMEOUT_S,
                   interval=0.5, message="every service's heartbeat")
        r.close()
        return self

    def processes(self) -> dict[str, psutil.Process]:
        assert self.up is not None and self.up.proc is not None
        root = psutil.Process(self.up.proc.pid)
        out = {"supervisor": root}
        for child in root.children(recursive=True):
            out[_name_of(child)] = child
        return out

    def stop(self) -> None:
        if self.up is not None:
            self.up.stop()
        self.redis.stop()


class SnapshotTimer(threading.Thread):
    """XREAD BLOCK on hedge:prices and hedge:nav; for each price entry, ms to the next snapshot."""

    def __init__(self, system: System) -> None:
        super().__init__(name="bench-rest-latency", daemon=True)
        self.r = system.redis.client()
        self.stop_event = threading.Event()
        self.prices_ms: list[int] = []
        self.nav_ms: list[int] = []
        self.nav_accounts: set[int] = set()

    def run(self) -> None:
        last = {KEYS.prices: "$", KEYS.nav: "$"}
        while not self.stop_event.is_set():
            for stream, entries in self.r.xread(last, block=500) or []:
                name = stream.decode()
                for entry_id, fields in entries:
                    last[name] = entry_id
                    ms = int(entry_id.split(b"-")[0])
                    if name == KEYS.prices:
                        self.prices_ms.append(ms)
                    else:
                        self.nav_ms.append(ms)
                        if b"snapshot" in fields:
                            doc = json.loads(fields[b"snapshot"])
                            self.nav_accounts.add(len(doc.get("accounts") or {}))
        self.r.close()

    def latencies_ms(self) -> list[float]:
        out, j = [], 0
        for p in self.prices_ms:
            while j < len(self.nav_ms) and self.nav_ms[j] < p:
                j += 1
            if j == len(self.nav_ms):
                break
            out.append(float(self.nav_ms[j] - p))
        return out


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def measure(system: System, seconds: float) -> dict:
    """CPU % of one core and RSS per process over `seconds`, and snapshot latency in the same window."""
    procs = system.processes()
    procs_redis = psutil.Process(system.redis.proc.pid) if system.redis.proc else None
    if procs_redis is not None:
        procs["redis-server"] = procs_redis
    timer = SnapshotTimer(system)
    timer.start()
    cpu0 = {n: _cpu_s(p) for n, p in procs.items()}
    t0 = time.monotonic()
    rss: dict[str, list[float]] = {n: [] for n in procs}
    uss: dict[str, float] = {}
    while time.monotonic() - t0 < seconds:
        for n, p in procs.items():
            rss[n].append(p.memory_info().rss / 2**20)
        time.sleep(1.0)
    cpu1 = {n: _cpu_s(p) for n, p in procs.items()}
    window = time.monotonic() - t0
    for n, p in procs.items():
        uss[n] = p.memory_full_info().uss / 2**20
    timer.stop_event.set()
    timer.join(2)
    per = {n: {"cpu_pct": round(100 * (cpu1[n] - cpu0[n]) / window, 2),
               "rss_mb": round(max(rss[n]), 1), "uss_mb": round(uss[n], 1)} for n in procs}
    navstream = [n for n in per if n != "redis-server"]
    lat = timer.latencies_ms()
    return {
        "accounts": system.accounts, "seconds": round(window, 1), "processes": per,
        "total": {"python_processes": len(navstream),
                  "cpu_pct": round(sum(per[n]["cpu_pct"] for n in navstream), 2),
                  "rss_mb": round(sum(per[n]["rss_mb"] for n in navstream), 1),
                  "uss_mb": round(sum(per[n]["uss_mb"] for n in navstream), 1)},
        # ids are whole ms, so the p50 of a few ms moves in steps of 1: the mean is the finer figure
        "snapshot_latency_ms": {**summary(lat), "mean": round(sum(lat) / len(lat), 3)} if lat else None,
        "snapshots": len(timer.nav_ms), "price_entries": len(timer.prices_ms),
        "accounts_in_snapshots": sorted(timer.nav_accounts),
    }


def run_once(accounts: int, seconds: float, settle_s: float, keep: bool = False) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"navstream-rest-{accounts}-"))
    system = System(workdir, accounts)
    try:
        _say(f"rest: navstream up with {accounts} accounts in {workdir}")
        system.start()
        time.sleep(settle_s)   # imports, first polls, the ledger's first strike settle
        _say(f"rest: measuring {accounts} accounts for {seconds:g} s")
        return measure(system, seconds)
    finally:
        system.stop()
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def run_rest(seconds: float, settle_s: float) -> dict:
    """The footprint at 2 accounts and the snapshot latency at 2 and 20 accounts."""
    small = run_once(2, seconds, settle_s)
    large = run_once(ACCOUNTS_LARGE, seconds, settle_s)
    out: dict = {"seconds": seconds, "settle_s": settle_s, "footprint": small, "many_accounts": large}
    a, b = (small.get("snapshot_latency_ms") or {}), (large.get("snapshot_latency_ms") or {})
    if a.get("mean") and b.get("mean"):
        out["latency_ratio_mean"] = round(b["mean"] / a["mean"], 2)
    if a.get("p99") and b.get("p99"):
        out["latency_ratio_p99"] = round(b["p99"] / a["p99"], 2)
    return out


def run_phase(seconds: float, settle_s: float) -> dict:
    """run_rest, or {"error": ...} when a system did not come up (the other figures still stand)."""
    try:
        return run_rest(seconds, settle_s)
    except (AssertionError, OSError, RuntimeError, psutil.Error) as exc:
        message = f"at-rest phase failed ({type(exc).__name__}: {exc}); its figures are missing"
        _say(message)
        return {"error": message}


def render(rest: dict) -> list[str]:
    """The per-process table of the footprint (2 accounts) beside the 20-account run."""
    if "footprint" not in rest:
        return [f"at rest: {rest.get('error')}"]
    small, large = rest["footprint"], rest["many_accounts"]
    lines = [f"at rest over {small['seconds']:g} s (defaults; CPU % of one core, RSS peak MB, USS MB): "
             f"{small['accounts']} accounts | {large['accounts']} accounts"]
    names = list(dict.fromkeys([*small["processes"], *large["processes"]]))
    for n in [*names, "total"]:
        a = small["total"] if n == "total" else small["processes"].get(n, {})
        b = large["total"] if n == "total" else large["processes"].get(n, {})
        lines.append(f"  {n:<13} {a.get('cpu_pct', '–'):>6} %  {a.get('rss_mb', '–'):>6} MB  "
                     f"{a.get('uss_mb', '–'):>6} MB | {b.get('cpu_pct', '–'):>6} %  {b.get('rss_mb', '–'):>6} MB")
    for run in (small, large):
        lat = run.get("snapshot_latency_ms") or {}
        lines.append(f"  price entry -> next hedge:nav snapshot, {run['accounts']} accounts: "
                     f"mean {lat.get('mean')} ms, p50 {lat.get('p50')} ms, "
                     f"p99 {lat.get('p99')} ms ({run['price_entries']} price entries, {run['snapshots']} snapshots)")
    return lines

"""Soak run (`make soak`): the full system with marketsim faults toggling at random.

Runs `navstream up` against its own redis-server for `--seconds` (default 600),
turning random marketsim faults on and off, then reports: snapshots produced, gaps
between consecutive snapshots longer than 5 s, service restarts, warnings/errors by
service and kind, and each service's RSS at start and end.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson
import psutil
import requests

from services.harness import NavstreamUp, RedisServer, eventually

SERVICES = ("marketsim", "pricer", "nav", "publisher", "dashboard")
FAULTS = [("mark", m) for m in ("down", "slow", "429", "418", "zero", "stale", "delisted")] + \
         [("spot", m) for m in ("down", "429", "stale")] + \
         [("coingecko", m) for m in ("down", "429", "slow")] + \
         [("account", m) for m in ("down", "slow", "429")]
GAP_S = 5.0


def _rss_by_service(r) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in SERVICES:
        raw = r.get(f"hedge:health:{name}")
        try:
            out[name] = psutil.Process(orjson.loads(raw)["pid"]).memory_info().rss / 2**20 if raw else None
        except psutil.NoSuchProcess:
            out[name] = None
    return out


class SnapshotWatch:
    """Polls the newest hedge:nav entry every 0.2 s for the whole run (the stream itself is
    trimmed, so it cannot be read back afterwards): snapshot count by seq, and every gap
    between two successive snapshots, to within the poll interval."""

    POLL_S = 0.2

    def __init__(self, r) -> None:
        self.r = r
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.last_ms: int | None = None
        self.gaps: list[float] = []

    def poll(self) -> None:
        newest = self.r.xrevrange("hedge:nav", count=1)
        if not newest:
            return
        entry_id, fields = newest[0]
        ms, seq = int(entry_id.split(b"-")[0]), int(fields[b"seq"])
        if self.first_seq is None:
            self.first_seq = seq
        elif ms != self.last_ms:
            self.gaps.append((ms - self.last_ms) / 1000)
        self.last_seq, self.last_ms = seq, ms

    def watch_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.poll()
            time.sleep(self.POLL_S)

    @property
    def snapshots(self) -> int:
        return 0 if self.first_seq is None else self.last_seq - self.first_seq


def _problems(output: str) -> Counter:
    kinds: Counter = Counter()
    for line in output.splitlines():
        m = re.match(r"^(\S+)\s+\|\s+\S+\s+(WARNING|ERROR|CRITICAL)\s+(\S+?):\s+(.{0,60})", line)
        if m:
            service, level, _logger, text = m.groups()
            kind = re.sub(r"[\d.]+", "N", text.split(";")[0])[:50]
            kinds[f"{service} {level} {kind}"] += 1
    return kinds


def soak(seconds: float, toggle_s: float, seed: int) -> dict:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="navstream-soak-"))
    redis_server = RedisServer(work / "redis")
    redis_server.start()
    r = redis_server.client()
    up = NavstreamUp(redis_server.url, work, METRICS_PORT_BASE=0).start()
    sim = f"http://127.0.0.1:{up.env['MARKETSIM_PORT']}"
    try:
        eventually(lambda: all(r.get(f"hedge:health:{s}") for s in SERVICES), timeout=60,
                   message="all services to beat")
        time.sleep(5)  # let imports and first rounds settle before the baseline RSS
        rss_start = _rss_by_service(r)
        watch = SnapshotWatch(r)
        deadline = time.monotonic() + seconds
        toggles = 0
        while time.monotonic() < deadline:
            requests.delete(f"{sim}/_sim/faults", timeout=5)
            for source, mode in rng.sample(FAULTS, k=rng.randint(0, 3)):
                body = {"source": source, "mode": mode}
                if mode == "slow":
                    body["delay_s"] = rng.choice([1, 3, 10])
                requests.post(f"{sim}/_sim/faults", json=body, timeout=5)
            toggles += 1
            watch.watch_for(min(toggle_s, max(0.0, deadline - time.monotonic())))
        requests.delete(f"{sim}/_sim/faults", timeout=5)
        rss_end = _rss_by_service(r)
    finally:
        up.stop()
        redis_server.stop()
    output = up.output()
    return {
        "seconds": seconds, "price_interval_s": float(up.env["PRICE_INTERVAL_S"]),
        "account_interval_s": float(up.env["ACCOUNT_INTERVAL_S"]),
        "fault_toggles": toggles, "snapshots": watch.snapshots,
        "snapshots_per_s": round(watch.snapshots / seconds, 2),
        "gaps_over_5s": sum(g > GAP_S for g in watch.gaps),
        "longest_gap_s": round(max(watch.gaps, default=0.0), 2),
        "restarts": len(re.findall(r"restarting \w+ \(restart #", output)),
        "problems": dict(_problems(output).most_common(20)),
        "rss_mb": {s: {"start": _round(rss_start.get(s)), "end": _round(rss_end.get(s)),
                       "growth_pct": _growth(rss_start.get(s), rss_end.get(s))} for s in SERVICES},
        "workdir": str(work),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _growth(a: float | None, b: float | None) -> float | None:
    return None if not a or b is None else round(100 * (b - a) / a, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--toggle-s", type=float, default=10, help="seconds between fault changes")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    report = soak(args.seconds, args.toggle_s, args.seed)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    print(f"\nsnapshots {report['snapshots']} ({report['snapshots_per_s']}/s), gaps > 5 s: "
          f"{report['gaps_over_5s']} (longest {report['longest_gap_s']} s), restarts: {report['restarts']}")
    for s, m in report["rss_mb"].items():
        print(f"  {s:<10} RSS {m['start']} MB -> {m['end']} MB ({m['growth_pct']} %)")
    ok = report["gaps_over_5s"] == 0 and all((m["growth_pct"] or 0) <= 10 for m in report["rss_mb"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

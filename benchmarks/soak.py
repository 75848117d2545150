"""Soak run (`make soak`): the full system with marketsim faults toggling at random.

Runs `navstream up` against its own redis-server for `--seconds` (default 600), the
ledger striking every `--strike-every-s` (default 120) and writing a history row every
`--history-interval-s` (default 10), turning random marketsim faults on and off; then lets
the ledger drain and reports: snapshots produced, gaps between consecutive snapshots
longer than 5 s, service restarts, warnings/errors by service and kind, each service's RSS
at start and end, and the record: history rows lost (a bucket in which a usable snapshot
was published has no row) or duplicated, strikes missing from the schedule, their states,
and `ledger verify` on the chain. Exit 1 on a gap, RSS growth over 10 % or a lost,
duplicated or missing row.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson
import psutil
import requests
import sqlalchemy as sa

from shared.contracts.nav import decode_nav_entry
from shared.keys import GROUP_LEDGER
from shared.stream_stats import read_stream

from services.harness import NavstreamUp, RedisServer, eventually
from services.ledger import store
from services.ledger.config import LedgerSettings
from services.ledger.db import open_database
from services.ledger.record import valuation_of
from services.ledger.schema import nav_history
from services.ledger.strike import labels_due
from services.ledger.strikes import verify

SERVICES = ("marketsim", "pricer", "nav", "publisher", "ledger", "dashboard")
FAULTS = [("mark", m) for m in ("down", "slow", "429", "418", "zero", "stale", "delisted")] + \
         [("spot", m) for m in ("down", "429", "stale")] + \
         [("coingecko", m) for m in ("down", "429", "slow")] + \
         [("account", m) for m in ("down", "slow", "429")]
GAP_S = 5.0
STRIKE_GRACE_S = 5.0   # the ledger proposes a due strike on its next turn: within a second or two


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

    def __init__(self, r, history_interval_s: float) -> None:
        self.r = r
        self.history_interval_s = history_interval_s
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.last_ms: int | None = None
        self.gaps: list[float] = []
        self.usable_buckets: set[int] = set()   # history buckets in which a countable snapshot was seen

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
        if ms != self.last_ms:
            val = valuation_of(decode_nav_entry(fields))
            if val is not None:
                self.usable_buckets.add(int(val.ts // self.history_interval_s))
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


def ledger_drained(r) -> bool:
    """The ledger group has read and acknowledged every hedge:nav and hedge:income entry."""
    for stream in ("hedge:nav", "hedge:income"):
        info = read_stream(r, stream, time.time())
        group = next((g for g in info.groups if g["name"] == GROUP_LEDGER), None)
        if info.exists and (group is None or group["pending"] or group["lag"]):
            return False
    return True


class Operator:
    """Approves held strikes oldest first with the real `navstream strike approve`, as an operator
    would, so that the chain keeps growing while faults hold strikes (and verify has work)."""

    def __init__(self, up: NavstreamUp, cfg: LedgerSettings) -> None:
        self.up = up
        self.engine = open_database(cfg.database_url)
        self.fund_id = cfg.fund_id
        self.approved = 0
        self.refused: list[str] = []

    def approve_held(self) -> None:
        with self.engine.connect() as conn:
            held = [s["strike_date"] for s in store.list_strikes(conn, self.fund_id) if s["state"] == "held"]
        for label in held:
            done = subprocess.run([sys.executable, "-m", "services.cli", "strike", "approve", label, "--note",
                                   "soak operator", "--by", "soak"], cwd=self.up.workdir, env=self.up.env,
                                  capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                self.refused.append(f"{label}: {(done.stdout + done.stderr).strip()[-200:]}")
                return
            self.approved += 1

    def close(self) -> None:
        self.engine.dispose()


def audit_record(cfg: LedgerSettings, usable_buckets: set[int], until: float) -> dict:
    """The record after the run: rows lost or duplicated against what was published, strikes
    missing from the schedule, their states, and the hash chain."""
    database_url = cfg.database_url
    engine = open_database(database_url)
    try:
        with engine.connect() as conn:
            buckets = [b for (b,) in conn.execute(
                sa.select(nav_history.c.bucket).where(nav_history.c.fund_id == cfg.fund_id,
                                                      nav_history.c.kind == store.MINUTE))]
            strikes = store.list_strikes(conn, cfg.fund_id)
            fund = store.get_fund(conn, cfg.fund_id)
            checked, problem = verify(conn, cfg)
    finally:
        engine.dispose()
    made = [s["strike_date"] for s in strikes]
    due = labels_due(None, fund["inception_ts"], until, cfg.strike_time, every_s=cfg.strike_every_s,
                     limit=100_000) if fund else []
    return {
        "history_rows": len(buckets), "history_buckets_published": len(usable_buckets),
        "history_rows_lost": len(usable_buckets - set(buckets)),
        "history_rows_duplicated": len(buckets) - len(set(buckets)),
        "strikes": len(made), "strikes_due": len(due), "strikes_missing": sorted(set(due) - set(made)),
        "strike_states": dict(Counter(s["state"] for s in strikes)),
        "strikes_late": sum(bool(s["late"]) for s in strikes),
        "verify": {"locked_checked": checked, "problem": problem},
    }


def soak(seconds: float, toggle_s: float, seed: int, *, strike_every_s: float = 120.0,
         history_interval_s: float = 10.0) -> dict:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="navstream-soak-"))
    redis_server = RedisServer(work / "redis")
    redis_server.start()
    r = redis_server.client()
    cfg = LedgerSettings(database_url=f"sqlite:///{work / 'var' / 'navstream.sqlite3'}",
                         strike_every_s=strike_every_s, history_interval_s=history_interval_s)
    up = NavstreamUp(redis_server.url, work, METRICS_PORT_BASE=0, DATABASE_URL=cfg.database_url,
                     LEDGER_STRIKE_EVERY_S=strike_every_s, LEDGER_HISTORY_INTERVAL_S=history_interval_s).start()
    operator: Operator | None = None
    sim = f"http://127.0.0.1:{up.env['MARKETSIM_PORT']}"
    try:
        eventually(lambda: all(r.get(f"hedge:health:{s}") for s in SERVICES), timeout=60,
                   message="all services to beat")
        time.sleep(5)  # let imports and first rounds settle before the baseline RSS
        rss_start = _rss_by_service(r)
        watch = SnapshotWatch(r, history_interval_s)
        operator = Operator(up, cfg)
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
            operator.approve_held()
            watch.watch_for(min(toggle_s, max(0.0, deadline - time.monotonic())))
        requests.delete(f"{sim}/_sim/faults", timeout=5)
        rss_end = _rss_by_service(r)
        eventually(lambda: ledger_drained(r), timeout=60, message="the ledger to commit and ack every entry")
        until = time.time() - STRIKE_GRACE_S   # a strike due in the last moments may not be made yet
    finally:
        if operator is not None:
            operator.close()
        up.stop()
        redis_server.stop()
    output = up.output()
    return {
        "seconds": seconds, "price_interval_s": float(up.env["PRICE_INTERVAL_S"]),
        "account_interval_s": float(up.env["ACCOUNT_INTERVAL_S"]),
        "strike_every_s": strike_every_s, "history_interval_s": history_interval_s,
        "fault_toggles": toggles, "snapshots": watch.snapshots,
        "snapshots_per_s": round(watch.snapshots / seconds, 2),
        "gaps_over_5s": sum(g > GAP_S for g in watch.gaps),
        "longest_gap_s": round(max(watch.gaps, default=0.0), 2),
        "restarts": len(re.findall(r"restarting \w+ \(restart #", output)),
        "problems": dict(_problems(output).most_common(20)),
        "rss_mb": {s: {"start": _round(rss_start.get(s)), "end": _round(rss_end.get(s)),
                       "growth_pct": _growth(rss_start.get(s), rss_end.get(s))} for s in SERVICES},
        "record": {**audit_record(cfg, watch.usable_buckets, until),
                   "approved_by_operator": operator.approved if operator else 0,
                   "approvals_refused": operator.refused if operator else []},
        "workdir": str(work),
    }


def passed(report: dict) -> bool:
    rec = report["record"]
    return (report["gaps_over_5s"] == 0 and all((m["growth_pct"] or 0) <= 10 for m in report["rss_mb"].values())
            and rec["history_rows_lost"] == 0 and rec["history_rows_duplicated"] == 0
            and not rec["strikes_missing"] and rec["verify"]["problem"] is None and not rec["approvals_refused"])


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _growth(a: float | None, b: float | None) -> float | None:
    return None if not a or b is None else round(100 * (b - a) / a, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--toggle-s", type=float, default=10, help="seconds between fault changes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strike-every-s", type=float, default=120.0,
                        help="LEDGER_STRIKE_EVERY_S: a strike every N seconds (default 120)")
    parser.add_argument("--history-interval-s", type=float, default=10.0,
                        help="LEDGER_HISTORY_INTERVAL_S: one history row per N seconds (default 10)")
    args = parser.parse_args(argv)
    report = soak(args.seconds, args.toggle_s, args.seed, strike_every_s=args.strike_every_s,
                  history_interval_s=args.history_interval_s)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    print(f"\nsnapshots {report['snapshots']} ({report['snapshots_per_s']}/s), gaps > 5 s: "
          f"{report['gaps_over_5s']} (longest {report['longest_gap_s']} s), restarts: {report['restarts']}")
    for s, m in report["rss_mb"].items():
        print(f"  {s:<10} RSS {m['start']} MB -> {m['end']} MB ({m['growth_pct']} %)")
    rec = report["record"]
    print(f"record: {rec['history_rows']} history rows ({rec['history_buckets_published']} buckets seen published), "
          f"lost {rec['history_rows_lost']}, duplicated {rec['history_rows_duplicated']}; strikes "
          f"{rec['strikes']}/{rec['strikes_due']} due {rec['strike_states']}, missing {rec['strikes_missing']}; "
          f"verify: {rec['verify']['locked_checked']} locked, problem {rec['verify']['problem']}")
    return 0 if passed(report) else 1


if __name__ == "__main__":
    sys.exit(main())

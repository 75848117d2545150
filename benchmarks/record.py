"""The fund's record under load: years of history on the Performance page, and the ledger's ingest rate.

For each database (embedded SQLite, and PostgreSQL when Debian's server binaries are there:
a private server started with initdb + pg_ctl, fsync on as deployed):

1. `benchmarks.history` writes N years of one-minute history through the ledger's schema,
   then times every read the Performance page makes and keeps the history query's plan.
2. A real `python -m services.dashboard` with DATABASE_URL on that record; headless Chromium
   opens `/performance` in a fresh context per load: navigation start -> the unit-price chart
   drawn (its first trace's path in the SVG); and, with plotly.js already evaluated by the
   Overview, the navbar switch to the page (what the page itself costs).
3. A real `python -m services.ledger` on that same record: snapshots go into `hedge:nav` at a
   multiple of the default snapshot rate, with LEDGER_HISTORY_INTERVAL_S below the spacing
   of the snapshots, so that every entry is a committed `nav_history` row (the ledger's
   heaviest case). Sampled every 0.25 s: rows committed, and the backlog (entries the
   `ledger` group has not acknowledged). Then a burst of entries at once for the ceiling.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import requests
import sqlalchemy as sa

from shared.contracts.nav import encode_nav_entry
from shared.keys import GROUP_LEDGER, Keys
from shared.settings import Settings
from services.harness import (
    PostgresServer,
    RedisServer,
    ServiceProcess,
    free_port,
    pg_bindir,
    remove_postgres,
    service_env,
    start_postgres,
)
from services.ledger.db import open_database
from services.ledger.schema import nav_history

from benchmarks import history
from benchmarks.dashboard import CHROMIUM, load_summary, timed_loads

KEYS = Keys()
PRICE_CHART = "#performance-price-chart .js-plotly-plot .scatterlayer .trace path"
SAMPLE_S = 0.25
RESOURCE_TIMING = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const end = (pred) => Math.max(0, ...res.filter(pred).map(r => r.responseEnd));
  return {dom_content_loaded: Math.round(nav.domContentLoadedEventEnd),
          plotly_js_loaded: Math.round(end(r => r.name.includes('plotly'))),
          layout_callback_done: Math.round(end(r => r.name.includes('_dash-update-component'))),
          now: Math.round(performance.now())};
}"""


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def default_snapshot_rate(settings: Settings | None = None) -> float:
    """Snapshots per second with default settings (DESIGN.md "Running it"): one per price round
    (PRICE_INTERVAL_S) and one after every account poll (ACCOUNT_INTERVAL_S)."""
    s = settings or Settings()
    return 1.0 / s.price_interval_s + 1.0 / s.account_interval_s


def wait_until(cond: Callable[[], Any], what: str, timeout: float = 60.0, proc: ServiceProcess | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited while waiting for {what}: {proc.log_text()[-600:]}")
        try:
            got = cond()
            if got:
                return got
        except (requests.RequestException, sa.exc.OperationalError):
            pass  # not up yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


# --- the page in Chromium --------------------------------------------------------------------------

def measure_page(base_url: str, loads: int) -> dict[str, Any]:
    """Navigation start -> the unit-price chart's line drawn, in headless Chromium; a fresh context per load."""
    if not os.path.exists(CHROMIUM):
        return {"skipped": f"{CHROMIUM} not installed (apt-get install chromium)"}

    def measured(page: Any) -> tuple[int, Any]:
        points = page.evaluate("document.querySelector('#performance-price-chart .js-plotly-plot').data[0].x.length")
        return points, page.evaluate(RESOURCE_TIMING)

    times, (points, timing), switches = timed_loads(
        f"{base_url}/performance", PRICE_CHART, loads, wait=("attached", 60_000), after_load=measured,
        then=lambda browser: [_navbar_switch(browser, base_url) for _ in range(min(loads, 3))])
    return {**load_summary(times), "points": points, "last_load_ms": timing,
            "navbar_switch_median_s": round(sorted(switches)[len(switches) // 2], 3)}


def _navbar_switch(browser: Any, base_url: str) -> float:
    """Overview first (it draws graphs, so plotly.js is loaded and evaluated), then the navbar link to
    Performance: navigation -> the unit-price chart, without plotly.js's evaluation in it."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base_url}/")
        page.wait_for_function("() => typeof window.Plotly === 'object'", timeout=60_000)
        t0 = time.perf_counter()
        page.click("a[href='/performance']")
        page.wait_for_selector(PRICE_CHART, state="attached", timeout=60_000)
        return time.perf_counter() - t0
    finally:
        context.close()


def page_phase(redis_url: str, url: str, workdir: Path, loads: int) -> dict[str, Any]:
    port = free_port()
    env = service_env(redis_url, workdir, DATABASE_URL=url, DASH_PORT=port, PRICE_INTERVAL_S=1,
                      ACCOUNT_INTERVAL_S=5)
    dash = ServiceProcess("dashboard", env, workdir / "logs").start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: requests.get(f"{base}/", timeout=2).ok, "the dashboard to serve /", proc=dash)
        t0 = time.perf_counter()
        resp = requests.get(f"{base}/performance", timeout=60)
        server_ms = round((time.perf_counter() - t0) * 1000, 1)
        out = {"http_get_ms": server_ms, "html_kb": round(len(resp.content) / 1024, 1)}
        out.update(measure_page(base, loads))
        return out
    finally:
        dash.stop()


# --- ledger ingest ---------------------------------------------------------------------------------

def _snapshot(seq: int, ts: float, aum: float) -> dict[str, Any]:
    """A nav.v7 snapshot as the nav publishes it with the default config: futures plus two holdings."""
    futures = aum - 3000.0
    return {
        "schema": "nav.v7", "seq": seq, "ts": ts, "nav_total": futures, "nav_age_s": 0.5, "source": "live",
        "positions": [{"symbol": "BTCUSDT", "side": "LONG", "qty": 0.5, "entry_price": 95000.0,
                       "mark_price": 97000.0, "upnl": 1000.0, "notional": 48500.0}],
        "aum": {"futures": futures,
                "offexchange": {"USDC": {"qty": 2000.0, "avg_cost": 1.0, "mark": 1.0, "usd_value": 2000.0,
                                         "source": "mark", "price_age_s": 0.5},
                                "BTC": {"qty": 0.01, "avg_cost": 90000.0, "mark": 100000.0, "usd_value": 1000.0,
                                        "source": "mark", "price_age_s": 0.5}},
                "total": aum},
        "fx": {"USDZAR": 18.2},
        "status": {"degraded": False, "reasons": []},
    }


class Ingest:
    """Feeds hedge:nav and watches the ledger commit it."""

    def __init__(self, redis: RedisServer, url: str) -> None:
        self.r = redis.client()
        self.engine = open_database(url)
        self.seq = 10_000_000
        self.aum = 1_000_000.0
        with self.engine.connect() as conn:
            self.first_id = conn.execute(sa.select(sa.func.max(nav_history.c.id))).scalar_one() or 0

    def rows(self) -> int:
        """History rows the ledger has committed since we started (a primary-key range: cheap at 1.6 M rows)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(nav_history)
                                .where(nav_history.c.id > self.first_id, nav_history.c.kind == "minute")).scalar_one()

    def backlog(self) -> int | None:
        """Entries of hedge:nav the ledger group has not acknowledged (not yet read + read, not acked);
        None before the ledger has made its group."""
        for g in self.r.xinfo_groups(KEYS.nav):
            if g["name"] in (GROUP_LEDGER, GROUP_LEDGER.encode()):
                return int(g.get("lag") or 0) + int(g["pending"])
        return None

    def xadd(self, n: int, ts: float) -> None:
        pipe = self.r.pipeline(transaction=False)
        for i in range(n):
            self.seq += 1
            self.aum *= 1.00001
            pipe.xadd(KEYS.nav, encode_nav_entry(_snapshot(self.seq, ts + i * 1e-3, self.aum)))
        pipe.execute()

    def sustained(self, rate: float, duration_s: float) -> dict[str, Any]:
        start_rows = self.rows()
        t0 = time.monotonic()
        sent = 0
        next_sample = t0
        samples: list[dict[str, float]] = []
        while (now := time.monotonic()) < t0 + duration_s:
            due = int((now - t0) * rate) + 1
            if due > sent:
                self.xadd(due - sent, time.time())
                sent = due
            if now >= next_sample:
                samples.append({"t": round(now - t0, 2), "backlog": self.backlog() or 0,
                                "rows": self.rows() - start_rows})
                next_sample += SAMPLE_S
            time.sleep(min(1.0 / rate, 0.01))
        elapsed = time.monotonic() - t0
        wait_until(lambda: self.backlog() == 0, "the ledger to acknowledge every entry", timeout=60)
        drained = time.monotonic() - t0
        rows = self.rows() - start_rows
        third = max(1, len(samples) // 3)
        first, last = samples[:third], samples[-third:]
        return {"offered_per_s": round(sent / elapsed, 2), "sent": sent, "rows": rows,
                "rows_per_s": round(rows / drained, 2), "drain_s_after_feed": round(drained - elapsed, 2),
                "backlog_max": max(s["backlog"] for s in samples),
                "backlog_first_third_mean": round(sum(s["backlog"] for s in first) / len(first), 2),
                "backlog_last_third_mean": round(sum(s["backlog"] for s in last) / len(last), 2),
                "samples": samples}

    def burst(self, n: int) -> dict[str, Any]:
        start_rows = self.rows()
        t0 = time.monotonic()
        self.xadd(n, time.time())
        wait_until(lambda: self.rows() - start_rows >= n and self.backlog() == 0,
                   f"the ledger to commit a burst of {n}", timeout=120)
        s = time.monotonic() - t0
        return {"entries": n, "seconds": round(s, 2), "rows_per_s": round(n / s, 1)}


def ingest_phase(redis: RedisServer, url: str, workdir: Path, *, rate: float, duration_s: float,
                 burst: int) -> dict[str, Any]:
    interval = min(0.5 / rate, 0.001)   # below the snapshots' spacing: every entry is a history row
    env = service_env(redis.url, workdir, DATABASE_URL=url, LEDGER_HISTORY_INTERVAL_S=interval,
                      PRICE_INTERVAL_S=1, ACCOUNT_INTERVAL_S=5)
    ing = Ingest(redis, url)
    ing.xadd(1, time.time())
    ledger = ServiceProcess("ledger", env, workdir / "logs").start()
    try:
        wait_until(lambda: ing.backlog() == 0, "the ledger to start and read hedge:nav", timeout=120, proc=ledger)
        out = {"history_interval_s": interval, "sustained": ing.sustained(rate, duration_s),
               "burst": ing.burst(burst)}
    finally:
        ledger.stop(30)
        ing.engine.dispose()
    out["rows_per_s"] = out["sustained"]["rows_per_s"]
    return out


# --- the phase -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RecordPlan:
    """What the record phase runs (benchmarks.run builds it from the options)."""

    years: float = 3.0
    browser_loads: int = 5
    query_runs: int = 10
    ingest_s: float = 20.0
    ingest_multiple: float = 20.0      # the sustained rate, as a multiple of the default snapshot rate
    burst: int = 2000
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    browser: bool = True


def run_record(workdir: Path, plan: RecordPlan) -> dict[str, Any]:
    """Every database in turn: history, queries, page, ingest. PostgreSQL without its binaries is noted, skipped."""
    workdir.mkdir(parents=True, exist_ok=True)
    rate = default_snapshot_rate()
    years = plan.years
    out: dict[str, Any] = {"years": years, "default_snapshot_rate_per_s": rate,
                           "ingest_rate_per_s": round(rate * plan.ingest_multiple, 2), "databases": {}}
    redis = RedisServer(workdir / "redis", appendonly=False)
    redis.start()
    pg: PostgresServer | None = None
    try:
        for kind in plan.databases:
            db: dict[str, Any] = {}
            out["databases"][kind] = db
            if kind == "sqlite":
                url = f"sqlite:///{workdir / 'record.sqlite3'}"
            else:
                bindir = pg_bindir()
                if bindir is None:
                    db["skipped"] = "PostgreSQL server binaries not found (apt-get install postgresql)"
                    continue
                pg = start_postgres(bindir, fsync=True)
                url = pg.create_database("bench")
            _say(f"record ({kind}): writing {years:g} years of one-minute history")
            db["history"] = history.generate_history(url, years)
            _say(f"record ({kind}): the Performance page's queries")
            db["queries"] = history.measure_queries(url, plan.query_runs)
            if plan.browser:
                _say(f"record ({kind}): /performance in headless Chromium")
                db["page"] = page_phase(redis.url, url, workdir / kind, plan.browser_loads)
            else:
                db["page"] = {"skipped": "--no-browser"}
            _say(f"record ({kind}): ledger ingest at {out['ingest_rate_per_s']:g} snapshots/s "
                 f"for {plan.ingest_s:g} s, then a burst of {plan.burst}")
            redis.client().delete(KEYS.nav)
            db["ingest"] = ingest_phase(redis, url, workdir / kind, rate=rate * plan.ingest_multiple,
                                        duration_s=plan.ingest_s, burst=plan.burst)
            if pg is not None:
                remove_postgres(pg)
                pg = None
    finally:
        redis.stop()
        if pg is not None:
            remove_postgres(pg)
    return out


# --- navstream bench's options ---------------------------------------------------------------------

QUICK_YEARS = 0.05       # about 18 days, 26 k rows: the quick run stays quick


def add_record_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("the fund's record (Performance page on years of history, ledger ingest)")
    g.add_argument("--history-years", type=float, default=None,
                   help=f"years of one-minute history to generate (default 3, about 1.6 M rows; quick {QUICK_YEARS})")
    g.add_argument("--record-databases", default=None,
                   help="comma-separated: sqlite, postgresql (default both; quick sqlite only); PostgreSQL is "
                        "skipped with a note without the server binaries")
    g.add_argument("--ingest-seconds", type=float, default=None,
                   help="seconds of the sustained ledger-ingest run (default 20; quick 3)")
    g.add_argument("--ingest-multiple", type=float, default=20.0,
                   help="sustained ingest rate as a multiple of the default snapshot rate (default 20: twice "
                        "the 10x target, so the figure is not capped at the target by the offered load)")
    g.add_argument("--no-record", action="store_true", help="skip the record phase")


def record_plan(args: argparse.Namespace) -> RecordPlan | None:
    if args.no_record:
        return None
    raw = args.record_databases or ("sqlite" if args.quick else "sqlite,postgresql")
    dbs = tuple(d.strip() for d in raw.split(",") if d.strip())
    if not dbs or set(dbs) - {"sqlite", "postgresql"}:
        raise ValueError(f"--record-databases {raw!r}: use sqlite and/or postgresql")
    quick = args.quick
    years = args.history_years if args.history_years is not None else (QUICK_YEARS if quick else 3.0)
    if years <= 0 or args.ingest_multiple <= 0:
        raise ValueError("--history-years and --ingest-multiple must be positive")
    return RecordPlan(years=years, browser_loads=1 if quick else 5, query_runs=3 if quick else 10,
                      ingest_s=args.ingest_seconds or (3.0 if quick else 20.0), ingest_multiple=args.ingest_multiple,
                      burst=300 if quick else 2000, databases=dbs, browser=not args.no_browser)


def run_record_phase(workdir: Path, plan: RecordPlan, notes: list[str]) -> dict[str, Any]:
    """run_record, with a failure kept as a note: the pipeline's figures still stand."""
    try:
        return run_record(workdir, plan)
    except (RuntimeError, OSError, sa.exc.SQLAlchemyError, requests.RequestException, AssertionError) as exc:
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        message = f"record phase failed ({type(exc).__name__}: {first}); its figures are missing"
        _say(message)
        notes.append(message)
        return {"error": message}


if __name__ == "__main__":
    # `python -m benchmarks.record YEARS WORKDIR`: the phase alone, its JSON on stdout.
    import tempfile
    years = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    wd = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="navstream-record-"))
    res = run_record(wd, RecordPlan(years=years))
    sys.stdout.buffer.write(orjson.dumps(res, option=orjson.OPT_INDENT_2))

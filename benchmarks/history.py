"""A synthetic fund record of N years of one-minute history, written fast through the ledger's own schema.

`generate_history(url, years)` migrates the database with the ledger's Alembic scripts, then
writes what the ledger would have written over those years: the fund and its inception, one
`nav_history` minute row a minute (a geometric random walk of the unit price, 60 % a year
of volatility), a subscription or redemption about every three weeks (units issued or
cancelled at the unit price just before, so the unit price does not jump), and a locked,
hash-chained strike every day at 00:00 UTC with its strike history row. Rows go in by bulk
`executemany` on SQLite and `COPY` on PostgreSQL, in chunks, so 1.6 M rows take seconds.

`measure_queries(url)` then times every read the Performance page makes (services.ledger.queries
and store, as services.dashboard.record and services.ledger.perfstate call them) and keeps the
plan of the history query (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.ledger import queries, store
from services.ledger.config import LedgerSettings
from services.ledger.db import open_database, upgrade
from services.ledger.perfstate import performance_of
from services.ledger.schema import NANO, UNIT_PLACES, flows, funds, strikes
from services.ledger.strike import canonical_json, strike_hash

from benchmarks.stats import median_p99

FUND_ID = "main"
MINUTES_PER_DAY = 1440
DAYS_PER_YEAR = 365
ANNUAL_VOL = 0.60
ANNUAL_DRIFT = 0.15
INCEPTION_AUM = 1_000_000.0
FLOW_EVERY_DAYS = 21
CHUNK_ROWS = 50_000
PAGE_POINTS = 1500          # services.dashboard.record.CHART_POINTS
PERF_POINTS = 5000          # services.ledger.perfstate.CHART_POINTS

HISTORY_COLUMNS = ("fund_id", "kind", "bucket", "minute", "ts", "nav_total", "aum_total", "unit_price", "units",
                   "source", "degraded", "seq", "entry_id")


def _nano(units: Decimal) -> int:
    return int(units.quantize(NANO).scaleb(UNIT_PLACES))


class _Fund:
    """The fund as it walks: the unit price path and the units outstanding."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.price = 1.0
        self.units = Decimal(int(INCEPTION_AUM)).quantize(NANO)      # UNIT_INCEPTION_PRICE 1.0
        self.units_f = float(self.units)
        minutes_per_year = DAYS_PER_YEAR * MINUTES_PER_DAY
        self.sigma = ANNUAL_VOL / math.sqrt(minutes_per_year)
        self.mu = ANNUAL_DRIFT / minutes_per_year - self.sigma ** 2 / 2

    def step(self) -> None:
        self.price *= math.exp(self.mu + self.sigma * self.rng.gauss(0.0, 1.0))

    def flow(self, ts: float, n: int) -> dict[str, Any]:
        """A subscription or redemption of 1-8 % of the fund at the current unit price."""
        aum = self.price * self.units_f
        amount = round(aum * self.rng.uniform(0.01, 0.08) * (1 if self.rng.random() < 0.6 else -1), 2)
        units = (Decimal(repr(amount)) / Decimal(repr(self.price))).quantize(NANO)
        row = {"fund_id": FUND_ID, "flow_key": f"operator:bench-{n}", "ts": ts,
               "kind": "subscription" if amount > 0 else "redemption", "classification": "external",
               "amount_usd": amount, "investor": f"investor-{n % 7}", "units": _nano(units),
               "unit_price": self.price, "aum_before": aum, "units_before": _nano(self.units),
               "account": None, "asset": None, "amount": None, "note": "synthetic", "created_at": ts}
        self.units += units
        self.units_f = float(self.units)
        return row


def _strike(fund: _Fund, day: date, ts: float, prev_hash: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A locked strike (hash-chained, inputs that recompute) and its strike history row."""
    aum = fund.price * fund.units_f
    price = float(Decimal(repr(aum)) / fund.units)
    inputs = {"snapshot": {"ts": ts, "nav_total": aum, "aum": {"futures": aum, "offexchange": {}, "total": aum}},
              "units": str(fund.units)}
    row: dict[str, Any] = {
        "fund_id": FUND_ID, "strike_date": day.isoformat(), "state": "locked", "ts": ts, "nav_total": aum,
        "aum_total": aum, "unit_price": price, "units": fund.units, "inputs": canonical_json(inputs),
        "reasons": "[]", "note": "locked automatically: no gate held it", "approved_by": "ledger", "late": False,
        "proposed_at": ts, "locked_at": ts, "prev_hash": prev_hash, "hash": None}
    row["hash"] = strike_hash(row)
    row["units"] = _nano(fund.units)
    hist = (FUND_ID, "strike", day.toordinal(), int(ts // 60), ts, aum, aum, price, _nano(fund.units), "live",
            False, None, None)
    return row, hist


def synthetic_rows(years: float, seed: int = 7, end: float | None = None
                   ) -> Iterator[tuple[list[tuple], list[dict[str, Any]], list[dict[str, Any]]]]:
    """Chunks of (history tuples in HISTORY_COLUMNS order, flow rows, strike rows), oldest first."""
    minutes = int(years * DAYS_PER_YEAR * MINUTES_PER_DAY)
    last_minute = int((end if end is not None else time.time()) // 60) - 1
    first = last_minute - minutes + 1
    fund = _Fund(seed)
    history: list[tuple] = []
    flow_rows: list[dict[str, Any]] = []
    strike_rows: list[dict[str, Any]] = []
    prev_hash: str | None = None
    n_flows = 0
    for m in range(first, last_minute + 1):
        ts = m * 60 + 5.0
        if m % MINUTES_PER_DAY == 0 and m != first:
            day = datetime.fromtimestamp(m * 60, UTC).date()
            row, hist = _strike(fund, day, m * 60.0, prev_hash)
            prev_hash = row["hash"]
            strike_rows.append(row)
            history.append(hist)
            if day.toordinal() % FLOW_EVERY_DAYS == 0:
                n_flows += 1
                flow_rows.append(fund.flow(m * 60 + 30.0, n_flows))
        fund.step()
        aum = fund.price * fund.units_f
        history.append((FUND_ID, "minute", m, m, ts, aum * 0.97, aum, fund.price, _nano(fund.units), "live", False,
                        m - first + 1, None))
        if len(history) >= CHUNK_ROWS:
            yield history, flow_rows, strike_rows
            history, flow_rows, strike_rows = [], [], []
    yield history, flow_rows, strike_rows


def _inception(first_ts: float) -> tuple[dict[str, Any], dict[str, Any]]:
    fund = {"fund_id": FUND_ID, "inception_ts": first_ts, "inception_price": 1.0, "created_at": first_ts}
    flow = {"fund_id": FUND_ID, "flow_key": "inception", "ts": first_ts, "kind": "inception",
            "classification": "external", "amount_usd": INCEPTION_AUM, "investor": "inception",
            "units": _nano(Decimal(int(INCEPTION_AUM))), "unit_price": 1.0, "aum_before": 0.0, "units_before": 0,
            "account": None, "asset": None, "amount": None, "note": "units at inception", "created_at": first_ts}
    return fund, flow


def generate_history(url: str, years: float, *, seed: int = 7, end: float | None = None) -> dict[str, Any]:
    """Migrate `url` and fill it with `years` of synthetic record; what was written and how long it took."""
    t0 = time.perf_counter()
    engine = open_database(url)
    upgrade(engine)
    counts = {"nav_history": 0, "flows": 1, "strikes": 0}
    first = True
    raw = engine.raw_connection()
    try:
        dialect = engine.dialect.name
        cur = raw.cursor()
        if dialect == "sqlite":
            cur.execute("PRAGMA synchronous=OFF")     # a bulk load: durability comes with the final commit
        for history, flow_rows, strike_rows in synthetic_rows(years, seed, end):
            if first:
                fund, flow = _inception(history[0][4] - 5.0)
                _insert_dicts(cur, dialect, funds, [fund])
                _insert_dicts(cur, dialect, flows, [flow])
                first = False
            _insert_history(cur, dialect, history)
            _insert_dicts(cur, dialect, flows, flow_rows)
            _insert_dicts(cur, dialect, strikes, strike_rows)
            counts["nav_history"] += len(history)
            counts["flows"] += len(flow_rows)
            counts["strikes"] += len(strike_rows)
        raw.commit()
    finally:
        raw.close()
    try:
        if engine.dialect.name == "postgresql":   # what autovacuum does after a bulk insert: statistics, visibility
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return {"years": years, "rows": counts, "seconds": round(time.perf_counter() - t0, 2)}


def _insert_history(cur: Any, dialect: str, rows: list[tuple]) -> None:
    cols = ", ".join(HISTORY_COLUMNS)
    if dialect == "postgresql":
        with cur.copy(f"COPY nav_history ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cur.executemany(f"INSERT INTO nav_history ({cols}) VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})", rows)


def _insert_dicts(cur: Any, dialect: str, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    mark = "%s" if dialect == "postgresql" else "?"
    cur.executemany(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})",
                    [tuple(r[c] for c in cols) for r in rows])


# --- the Performance page's reads ------------------------------------------------------------------

def _timed(fn: Callable[[], Any], runs: int) -> dict:
    fn()   # warm-up: the first call pays the connection and the page cache
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return median_p99(out, 2)


def page_reads(engine: Engine, fund_id: str = FUND_ID) -> dict[str, Callable[[Any], Any]]:
    """Each read the Performance page makes, by name (on a Connection)."""
    return {
        "history_points": lambda c: queries.history_points(c, fund_id, max_points=PAGE_POINTS),
        "history_points_5000": lambda c: queries.history_points(c, fund_id, max_points=PERF_POINTS),
        "daily_points": lambda c: queries.daily_points(c, fund_id),
        "high_water_unit": lambda c: queries.high_water_unit(c, fund_id),
        "latest_row": lambda c: queries.latest_row(c, fund_id),
        "flows": lambda c: store.list_flows(c, fund_id),
        "strikes": lambda c: store.list_strikes(c, fund_id),
        "units_by_investor": lambda c: store.units_by_investor(c, fund_id),
        "units_outstanding": lambda c: store.units_outstanding(c, fund_id),
    }


def measure_queries(url: str, runs: int = 5) -> dict[str, Any]:
    """Median and p99 ms of each page read, of performance_of (what the ledger and the page compute),
    and the plan of the history query."""
    engine = open_database(url)
    try:
        out: dict[str, Any] = {"runs": runs, "ms": {}}
        with engine.connect() as conn:
            for name, read in page_reads(engine).items():
                out["ms"][name] = _timed(lambda read=read: read(conn), runs)
            out["points"] = len(queries.history_points(conn, FUND_ID, max_points=PAGE_POINTS))
            out["history_rows"] = queries.history_count(conn, FUND_ID)
            out["plan"] = explain_history(conn)
        cfg = LedgerSettings(database_url=url, fund_id=FUND_ID)
        out["ms"]["performance_of"] = _timed(lambda: performance_of(engine, cfg), runs)
        with _database_url(url):
            from services.dashboard import record
            out["ms"]["record_view"] = _timed(record.load_record_view, runs)
    finally:
        engine.dispose()
    return out


@contextmanager
def _database_url(url: str) -> Iterator[None]:
    """DATABASE_URL set for the dashboard's record reader (it reads the environment, as in the dashboard)."""
    old = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        yield
    finally:
        if old is None:
            del os.environ["DATABASE_URL"]
        else:
            os.environ["DATABASE_URL"] = old


def explain_history(conn: sa.Connection) -> list[str]:
    """The plan of the page's history query as the database runs it."""
    lo, hi = queries.history_span(conn, FUND_ID)
    per = max(1, math.ceil(((hi or 0) - (lo or 0) + 1) / PAGE_POINTS))
    stmt = queries.history_statement(FUND_ID, since=None, per=per, lo=lo, hi=hi)
    sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "postgresql":
        return [r[0] for r in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}")]
    return [str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]

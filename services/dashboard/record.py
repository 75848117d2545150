"""The dashboard's reads of the fund's record (the ledger's database, DATABASE_URL).

The Performance page and the Overview's history chart read here, never Redis: the record
survives a Redis wipe. History comes downsampled in SQL (services.ledger.queries), so a
page loads as fast over years of minutes as over a day. A database that cannot be read is
`RecordUnavailable` with the reason, shown on the page; never a crash.
"""

from __future__ import annotations

import threading
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.errors import NavstreamError

from services.ledger.config import LedgerSettings, load_ledger_settings
from services.ledger.performance import Performance, monthly_returns, underwater

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# SQLAlchemy and the ledger's store (about 30 MB of RSS) are imported at the first read, not
# with the dashboard: a dashboard nobody looks at never loads them.

CHART_POINTS = 1500
STRIKES_SHOWN = 31
"""The page lists the newest month of strikes: three years of them were 1,095 table rows, ~10,000 Dash
components for the browser to build before the page settled (`navstream strike list` has them all)."""
_lock = threading.Lock()
_engine: tuple[str, Engine] | None = None


def read_failed(*also: type[Exception]) -> tuple[type[Exception], ...]:
    """The database is down, locked, or has no record tables yet (the ledger never ran); and `also`."""
    import sqlalchemy as sa

    return (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.InterfaceError, *also)


class RecordUnavailable(NavstreamError):
    """The record could not be read; the message says why."""


def _cfg() -> LedgerSettings:
    return load_ledger_settings()


def engine() -> Engine:
    """One engine per process (per DATABASE_URL). An SQLite file that does not exist is not created
    here (the ledger creates the record): RecordUnavailable until it does."""
    from sqlalchemy.engine import make_url

    from services.ledger.db import open_database

    global _engine
    cfg = _cfg()
    url = make_url(cfg.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise RecordUnavailable(f"no record yet: {url.database} does not exist (the ledger creates it)")
    with _lock:
        if _engine is None or _engine[0] != cfg.database_url:
            _engine = (cfg.database_url, open_database(cfg.database_url))
        return _engine[1]


@dataclass(frozen=True, slots=True)
class RecordView:
    """Everything the Performance page shows."""

    points: list[dict[str, Any]]
    performance: Performance | None
    extra: dict[str, Any]
    monthly: list[tuple[int, int, float]]
    underwater: list[tuple[float, float]]
    flows: list[dict[str, Any]]
    strikes: list[dict[str, Any]]
    investors: dict[str, str] = field(default_factory=dict)
    units: str | None = None
    strikes_total: int = 0          # all of the fund's strikes; `strikes` holds the newest STRIKES_SHOWN


def history_head() -> str | None:
    """The time of the newest history row (cheap), None when the record has none or cannot be read."""
    from services.ledger import queries

    cfg = _cfg()
    try:
        with engine().connect() as conn:
            row = queries.latest_row(conn, cfg.fund_id)
    except read_failed(RecordUnavailable):
        return None
    return None if row is None else repr(row["ts"])


def overview_points() -> list[dict[str, Any]]:
    """History for the Overview chart: {ts, nav_total, aum_total, dd_pct} with dd_pct the unit price's
    drawdown from its high-water mark (flows do not move it). [] when the record has none."""
    from services.ledger import queries

    cfg = _cfg()
    try:
        with engine().connect() as conn:
            points = queries.history_points(conn, cfg.fund_id, max_points=CHART_POINTS)
    except read_failed(RecordUnavailable):
        return []
    dd = underwater([(p["ts"], p["unit_price"]) for p in points])
    return [{"ts": p["ts"], "nav_total": p["nav_total"], "aum_total": p["aum_total"], "dd_pct": d}
            for p, (_, d) in zip(points, dd, strict=True)]


def load_record_view() -> RecordView:
    """The whole Performance page's data; RecordUnavailable naming the reason."""
    from services.ledger import queries, store
    from services.ledger.perfstate import performance_of

    cfg = _cfg()
    try:
        eng = engine()
        with eng.connect() as conn:
            fund = store.get_fund(conn, cfg.fund_id)
            points = queries.history_points(conn, cfg.fund_id, max_points=CHART_POINTS)
            flows = [store.jsonable(f) for f in store.list_flows(conn, cfg.fund_id)]
            strikes = [store.jsonable(s) for s in store.latest_strikes(conn, cfg.fund_id, STRIKES_SHOWN)]
            strikes_total = store.strike_count(conn, cfg.fund_id)
            investors = {k: str(v) for k, v in store.units_by_investor(conn, cfg.fund_id).items()}
            units = str(store.units_outstanding(conn, cfg.fund_id)) if fund else None
        perf, extra = performance_of(eng, cfg) if fund else (None, {})
    except read_failed() as exc:
        raise RecordUnavailable(f"the record ({cfg.redacted_database_url()}) cannot be read: "
                                f"{str(exc).splitlines()[0][:160]}") from None
    inception = fund["inception_price"] if fund else cfg.unit_inception_price
    series = [(p["ts"], p["unit_price"]) for p in points]
    return RecordView(points=points, performance=perf, extra=extra, monthly=monthly_returns(series, inception),
                      underwater=underwater(series), flows=flows, strikes=strikes, investors=investors, units=units,
                      strikes_total=strikes_total)

"""Reads of the record for the dashboard, performance and export, downsampled in SQL.

History is grouped on the integer `minute` column (ts // 60, indexed with fund_id and kind):
a window of any length comes back as at most `max_points` rows, each the last row of its
group of minutes, so years of minutes load as fast as a day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.ledger.schema import nav_history
from services.ledger.store import MINUTE, first_row

DEFAULT_MAX_POINTS = 2000
MINUTES_PER_DAY = 1440


def _minute_rows(fund_id: str, since: float | None):
    cond = [nav_history.c.fund_id == fund_id, nav_history.c.kind == MINUTE]
    if since is not None:
        cond.append(nav_history.c.ts >= since)
    return cond


def history_span(conn: Connection, fund_id: str, since: float | None = None) -> tuple[int | None, int | None]:
    q = sa.select(sa.func.min(nav_history.c.minute), sa.func.max(nav_history.c.minute)).where(
        *_minute_rows(fund_id, since))
    lo, hi = conn.execute(q).one()
    return lo, hi


def history_points(conn: Connection, fund_id: str, *, since: float | None = None,
                   max_points: int = DEFAULT_MAX_POINTS, per: int | None = None) -> list[dict[str, Any]]:
    """Minute rows downsampled to at most `max_points` (or exactly `per` minutes per point):
    the last row of each group, oldest first, as {ts, unit_price, aum_total, nav_total, units, source, degraded}."""
    lo, hi = history_span(conn, fund_id, since)
    if lo is None or hi is None:
        return []
    if per is None:
        per = max(1, math.ceil((hi - lo + 1) / max_points))
    return [dict(r) for r in conn.execute(history_statement(fund_id, since=since, per=per, lo=lo, hi=hi)).mappings()]


def history_statement(fund_id: str, *, since: float | None, per: int, lo: int, hi: int) -> sa.Select:
    """The downsampling SELECT: the last minute row of every group of `per` minutes in [lo, hi]."""
    group = (nav_history.c.minute // per) if per > 1 else nav_history.c.minute
    last = (sa.select(sa.func.max(nav_history.c.ts).label("ts")).where(*_minute_rows(fund_id, since))
            .group_by(group).subquery())
    return (sa.select(nav_history.c.ts, nav_history.c.unit_price, nav_history.c.aum_total, nav_history.c.nav_total,
                      nav_history.c.units, nav_history.c.source, nav_history.c.degraded)
            .join(last, nav_history.c.ts == last.c.ts)
            .where(nav_history.c.fund_id == fund_id, nav_history.c.kind == MINUTE)
            .order_by(nav_history.c.ts))


def daily_points(conn: Connection, fund_id: str) -> list[dict[str, Any]]:
    """The last history row of every UTC day."""
    return history_points(conn, fund_id, per=MINUTES_PER_DAY)


def high_water_unit(conn: Connection, fund_id: str) -> float | None:
    q = sa.select(sa.func.max(nav_history.c.unit_price)).where(*_minute_rows(fund_id, None))
    return conn.execute(q).scalar_one()


def latest_row(conn: Connection, fund_id: str) -> Mapping[str, Any] | None:
    q = (sa.select(nav_history).where(*_minute_rows(fund_id, None)).order_by(nav_history.c.ts.desc()).limit(1))
    return first_row(conn.execute(q))


def history_count(conn: Connection, fund_id: str) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(nav_history)
                        .where(nav_history.c.fund_id == fund_id)).scalar_one()

"""Reads of the record for the dashboard, performance and export, downsampled in SQL.

History is grouped on the integer `minute` column (ts // 60): a window of any length comes
back as at most `max_points` rows, each the last row of its group of minutes. The groups are
numbered by a recursive CTE and each one's last row is one backwards seek in the index on
(fund_id, kind, minute, ts) (migration 0002), so the cost grows with the points asked for,
not with the rows stored: years of minutes load as fast as a day, on SQLite and PostgreSQL.
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
        # the minute bound is implied by the ts bound; stated, it lets the index range start there
        cond += [nav_history.c.minute >= int(since // 60), nav_history.c.ts >= since]
    return cond


def history_span(conn: Connection, fund_id: str, since: float | None = None) -> tuple[int | None, int | None]:
    """The first and last minute of the minute rows (since `since`). Two scalar subqueries rather than
    one SELECT min(), max(): each is then a single index seek on SQLite (its min/max optimisation
    takes one aggregate per SELECT)."""
    cond = _minute_rows(fund_id, since)
    lo = sa.select(sa.func.min(nav_history.c.minute)).where(*cond).scalar_subquery()
    hi = sa.select(sa.func.max(nav_history.c.minute)).where(*cond).scalar_subquery()
    lo_v, hi_v = conn.execute(sa.select(lo, hi)).one()
    return lo_v, hi_v


def history_points(conn: Connection, fund_id: str, *, since: float | None = None,
                   max_points: int = DEFAULT_MAX_POINTS, per: int | None = None) -> list[dict[str, Any]]:
    """Minute rows downsampled to at most `max_points` (+ 1: groups are aligned on multiples of `per`, so the
    points stay put as rows arrive), or exactly `per` minutes per point:
    the last row of each group, oldest first, as {ts, unit_price, aum_total, nav_total, units, source, degraded}."""
    lo, hi = history_span(conn, fund_id, since)
    if lo is None or hi is None:
        return []
    if per is None:
        per = max(1, math.ceil((hi - lo + 1) / max_points))
    return [dict(r) for r in conn.execute(history_statement(fund_id, since=since, per=per, lo=lo, hi=hi)).mappings()]


def history_statement(fund_id: str, *, since: float | None, per: int, lo: int, hi: int) -> sa.Select:
    """The downsampling SELECT: the last minute row of every group of `per` minutes in [lo, hi].

    Group n holds the minutes [n * per, n * per + per - 1]; its last row is the one with the
    highest (minute, ts), found by ORDER BY ... DESC LIMIT 1 on the index. A group without rows
    gives no point."""
    groups = sa.select(sa.literal(lo // per, sa.BigInteger).label("n")).cte("history_groups", recursive=True)
    groups = groups.union_all(sa.select((groups.c.n + 1).label("n")).where(groups.c.n < hi // per))
    inner = nav_history.alias("last_row")
    last_id = (sa.select(inner.c.id)
               .where(inner.c.fund_id == fund_id, inner.c.kind == MINUTE,
                      inner.c.minute >= groups.c.n * per, inner.c.minute < (groups.c.n + 1) * per,
                      *([inner.c.ts >= since] if since is not None else []))
               .order_by(inner.c.minute.desc(), inner.c.ts.desc()).limit(1)
               .correlate(groups).scalar_subquery())
    return (sa.select(nav_history.c.ts, nav_history.c.unit_price, nav_history.c.aum_total, nav_history.c.nav_total,
                      nav_history.c.units, nav_history.c.source, nav_history.c.degraded)
            .select_from(groups).join(nav_history, nav_history.c.id == last_id)
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

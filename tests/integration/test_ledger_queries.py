"""The record's reads on SQLite and PostgreSQL: migration 0002's indexes, and the downsampled
history (CTE + index seek) giving exactly the points of the definition it replaced: the last
row by time of every group of minutes."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
import sqlalchemy as sa

from services.ledger import queries
from services.ledger.db import current_revision, open_database, upgrade
from services.ledger.schema import nav_history
from services.ledger.units import unit_price

T0 = 1_764_633_600.0   # 2025-12-02T00:00:00Z
UNITS = Decimal("1000.000000000")


@pytest.fixture
def engine(database_url: str):
    eng = open_database(database_url)
    yield eng
    eng.dispose()


def _history(seed: int = 3) -> list[dict]:
    """Three days of rows every 20 s (three a minute), with gaps of hours, and a strike row a day."""
    rng = random.Random(seed)
    rows, bucket = [], 0
    t = T0 + 7.0
    while t < T0 + 3 * 86_400:
        if rng.random() < 0.0005:
            t += rng.uniform(600, 4 * 3600)        # the system was down for a while
        aum = 100_000.0 * (1 + rng.uniform(-0.05, 0.05))
        bucket += 1
        rows.append({"fund_id": "main", "kind": "minute", "bucket": bucket, "minute": int(t // 60), "ts": t,
                     "nav_total": aum, "aum_total": aum, "unit_price": unit_price(aum, UNITS), "units": UNITS,
                     "source": "live", "degraded": False, "seq": bucket, "entry_id": None})
        t += 20.0
    for day in range(3):
        ts = T0 + day * 86_400
        rows.append({"fund_id": "main", "kind": "strike", "bucket": day, "minute": int(ts // 60), "ts": ts,
                     "nav_total": 1.0, "aum_total": 1.0, "unit_price": 99.0, "units": UNITS, "source": "live",
                     "degraded": False, "seq": None, "entry_id": None})
    rows.append({**rows[0], "fund_id": "other", "unit_price": 42.0})   # another fund's row is never read
    return rows


def _reference(rows: list[dict], per: int, since: float | None = None) -> list[tuple[float, float]]:
    """The definition: minute rows of fund main (since `since`), grouped by minute // per, the row with the
    highest ts of each group, oldest first."""
    last: dict[int, dict] = {}
    for r in rows:
        if r["fund_id"] != "main" or r["kind"] != "minute" or (since is not None and r["ts"] < since):
            continue
        g = r["minute"] // per
        if g not in last or r["ts"] > last[g]["ts"]:
            last[g] = r
    return sorted((r["ts"], r["unit_price"]) for r in last.values())


def test_migration_0002_replaces_the_minute_index_and_runs_both_ways(engine):
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.insert(nav_history), _history()[:50])
    assert upgrade(engine, "0002") == "0002"
    names = {ix["name"] for ix in sa.inspect(engine).get_indexes("nav_history")}
    assert {"ix_nav_history_fund_kind_minute_ts", "ix_nav_history_fund_kind_unit_price"} <= names
    assert "ix_nav_history_fund_kind_minute" not in names
    with engine.connect() as conn:
        assert len(queries.history_points(conn, "main", max_points=10)) > 0   # rows written before 0002 still read
    from alembic import command
    from services.ledger.db import alembic_config
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    assert current_revision(engine) == "0001"
    assert "ix_nav_history_fund_kind_minute" in {ix["name"] for ix in sa.inspect(engine).get_indexes("nav_history")}
    assert upgrade(engine, "0002") == "0002"


@pytest.mark.parametrize("max_points", [1, 7, 100, 500, 100_000])
def test_downsampled_history_is_the_last_row_of_every_group(engine, max_points):
    upgrade(engine)
    rows = _history()
    with engine.begin() as conn:
        conn.execute(sa.insert(nav_history), rows)
    with engine.connect() as conn:
        got = queries.history_points(conn, "main", max_points=max_points)
        lo, hi = queries.history_span(conn, "main")
    per = max(1, math.ceil((hi - lo + 1) / max_points))
    assert [(p["ts"], p["unit_price"]) for p in got] == _reference(rows, per)
    assert len(got) <= max_points + 1      # groups are aligned on multiples of `per` minutes, as before
    assert all(isinstance(p["units"], Decimal) and p["source"] == "live" for p in got)


def test_daily_points_and_a_window_since(engine):
    upgrade(engine)
    rows = _history()
    with engine.begin() as conn:
        conn.execute(sa.insert(nav_history), rows)
    since = T0 + 86_400 + 1234.5
    with engine.connect() as conn:
        daily = queries.daily_points(conn, "main")
        window = queries.history_points(conn, "main", since=since, max_points=50)
        lo, hi = queries.history_span(conn, "main", since)
        hwm = queries.high_water_unit(conn, "main")
        assert queries.history_points(conn, "nobody") == []
    assert [(p["ts"], p["unit_price"]) for p in daily] == _reference(rows, 1440)
    assert len(daily) == 3
    assert lo == min(r["minute"] for r in rows if r["kind"] == "minute" and r["ts"] >= since)
    per = max(1, math.ceil((hi - lo + 1) / 50))
    assert [(p["ts"], p["unit_price"]) for p in window] == _reference(rows, per, since)
    assert window[0]["ts"] >= since
    assert hwm == max(r["unit_price"] for r in rows if r["kind"] == "minute" and r["fund_id"] == "main")


def _strike_row(day: int) -> dict:
    return {"fund_id": "main", "strike_date": f"2025-{1 + day // 28:02d}-{1 + day % 28:02d}", "state": "locked",
            "ts": T0 + day * 86_400, "nav_total": 1.0, "aum_total": 1.0, "unit_price": 1.0, "units": UNITS,
            "inputs": '{"big": "' + "x" * 1000 + '"}', "reasons": "[]", "note": "", "approved_by": "ledger",
            "late": False, "proposed_at": T0, "locked_at": T0, "prev_hash": None, "hash": f"{day:064d}"}


def test_the_page_reads_the_newest_strikes_without_their_inputs(engine):
    upgrade(engine)
    from services.ledger import store
    from services.ledger.schema import strikes
    with engine.begin() as conn:
        conn.execute(sa.insert(strikes), [_strike_row(d) for d in range(40)])
        conn.execute(sa.insert(strikes), [{**_strike_row(0), "fund_id": "other"}])
    with engine.connect() as conn:
        latest = store.latest_strikes(conn, "main", 31)
        assert store.strike_count(conn, "main") == 40
        everything = store.list_strikes(conn, "main")
    assert [s["strike_date"] for s in latest] == [s["strike_date"] for s in everything][-31:]   # oldest first
    assert all("inputs" not in s and s["hash"] for s in latest)
    assert isinstance(latest[0]["units"], Decimal)

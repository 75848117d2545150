"""The ledger's SQL: every read and write of the record, on a Connection inside the caller's
transaction. Idempotency lives here: inserts of keyed rows ignore a key already there, so a
replayed stream entry adds nothing.

Writers (the ledger service and the `navstream flow|strike` commands) start each transaction
with `lock_fund`, which serialises them per fund on both engines (a row lock on PostgreSQL,
the write lock on SQLite), so units are never computed from a sum another writer is changing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Result

from services.ledger.holdings import Holding
from services.ledger.schema import UNIT_PLACES, flows, funds, holding_moves, holdings, income, nav_history, strikes

MINUTE, STRIKE = "minute", "strike"
EXTERNAL, INTERNAL, UNCLASSIFIED = "external", "internal", "unclassified"
CLASSIFICATIONS = (EXTERNAL, INTERNAL, UNCLASSIFIED)


def insert_ignoring_duplicates(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """INSERT rows, skipping any whose unique key exists already; returns how many were inserted."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    if dialect == "postgresql":
        # psycopg reports no rowcount for INSERT ... ON CONFLICT with RETURNING: count the rows returned
        pg: sa.Insert = postgresql.insert(table).on_conflict_do_nothing().returning(sa.literal_column("1"))
        return sum(len(conn.execute(pg, dict(row)).all()) for row in rows)
    if dialect == "sqlite":
        lite = sqlite.insert(table).on_conflict_do_nothing()
        return sum(conn.execute(lite, dict(row)).rowcount for row in rows)
    raise RuntimeError(f"unsupported database dialect {dialect}")  # pragma: no cover - open_database makes two


# --- the fund --------------------------------------------------------------------------------

def lock_fund(conn: Connection, fund_id: str) -> bool:
    """Take this fund's write lock for the transaction; False if the fund has no inception yet."""
    res = conn.execute(sa.update(funds).where(funds.c.fund_id == fund_id)
                       .values(created_at=funds.c.created_at))
    return res.rowcount > 0


def get_fund(conn: Connection, fund_id: str) -> Mapping[str, Any] | None:
    return first_row(conn.execute(sa.select(funds).where(funds.c.fund_id == fund_id)))


def create_fund(conn: Connection, fund_id: str, ts: float, inception_price: float) -> bool:
    return insert_ignoring_duplicates(conn, funds, [{"fund_id": fund_id, "inception_ts": ts,
                                                     "inception_price": inception_price,
                                                     "created_at": time.time()}]) == 1


# --- units -----------------------------------------------------------------------------------

def units_outstanding(conn: Connection, fund_id: str, at: float | None = None) -> Decimal:
    """Σ units of every flow (inception included) up to `at` (all when None); exact."""
    q = sa.select(sa.func.coalesce(sa.func.sum(flows.c.units), 0)).where(flows.c.fund_id == fund_id)
    if at is not None:
        q = q.where(flows.c.ts <= at)
    return _units(conn.execute(q).scalar_one())


def units_by_investor(conn: Connection, fund_id: str) -> dict[str, Decimal]:
    q = (sa.select(flows.c.investor, sa.func.sum(flows.c.units)).where(flows.c.fund_id == fund_id)
         .group_by(flows.c.investor).order_by(flows.c.investor))
    return {inv: _units(total) for inv, total in conn.execute(q)}


def _units(value: Any) -> Decimal:
    """A SUM over the nano-unit column, back as Decimal units (engines return int or Decimal)."""
    exponent = value.as_tuple().exponent if isinstance(value, Decimal) else None
    if isinstance(value, Decimal) and value == value.to_integral_value() and isinstance(exponent, int) \
            and exponent >= 0:
        value = int(value)
    if isinstance(value, int):
        return Decimal(value).scaleb(-UNIT_PLACES).quantize(Decimal(10) ** -UNIT_PLACES)
    return Decimal(value).quantize(Decimal(10) ** -UNIT_PLACES)


# --- history ---------------------------------------------------------------------------------

def last_history(conn: Connection, fund_id: str, before: float | None = None) -> Mapping[str, Any] | None:
    q = sa.select(nav_history).where(nav_history.c.fund_id == fund_id)
    if before is not None:
        q = q.where(nav_history.c.ts < before)
    return first_row(conn.execute(q.order_by(nav_history.c.ts.desc()).limit(1)))


def last_bucket(conn: Connection, fund_id: str) -> int | None:
    q = sa.select(sa.func.max(nav_history.c.bucket)).where(nav_history.c.fund_id == fund_id,
                                                          nav_history.c.kind == MINUTE)
    return conn.execute(q).scalar_one()


def reprice_history(conn: Connection, fund_id: str, since_ts: float, delta_units: Decimal) -> int:
    """A flow recorded after history rows at or past its time: give those rows the flow's units
    and the unit price that follows (minute rows only; strike rows belong to their strike)."""
    if delta_units == 0:
        return 0
    delta_nano = int(delta_units.scaleb(UNIT_PLACES))
    units_col = sa.type_coerce(nav_history.c.units, sa.BigInteger)
    new_units = units_col + delta_nano
    res = conn.execute(
        sa.update(nav_history)
        .where(nav_history.c.fund_id == fund_id, nav_history.c.kind == MINUTE, nav_history.c.ts >= since_ts)
        .values({nav_history.c.units: sa.type_coerce(new_units, nav_history.c.units.type),
                 nav_history.c.unit_price:
                     nav_history.c.aum_total * (10 ** UNIT_PLACES) / sa.cast(new_units, sa.Float)}))
    return res.rowcount


def unit_price_points(conn: Connection, fund_id: str, since: float | None = None) -> list[tuple[float, float]]:
    q = (sa.select(nav_history.c.ts, nav_history.c.unit_price).where(nav_history.c.fund_id == fund_id)
         .order_by(nav_history.c.ts))
    if since is not None:
        q = q.where(nav_history.c.ts >= since)
    return [(ts, p) for ts, p in conn.execute(q)]


# --- flows -----------------------------------------------------------------------------------

def flows_between(conn: Connection, fund_id: str, start: float | None, end: float) -> list[dict[str, Any]]:
    q = sa.select(flows).where(flows.c.fund_id == fund_id, flows.c.ts <= end)
    if start is not None:
        q = q.where(flows.c.ts > start)
    return [jsonable(r) for r in all_rows(conn.execute(q.order_by(flows.c.ts, flows.c.id)))]


def list_flows(conn: Connection, fund_id: str) -> list[Mapping[str, Any]]:
    q = sa.select(flows).where(flows.c.fund_id == fund_id).order_by(flows.c.ts, flows.c.id)
    return all_rows(conn.execute(q))


def get_flow(conn: Connection, fund_id: str, flow_id: int) -> Mapping[str, Any] | None:
    q = sa.select(flows).where(flows.c.fund_id == fund_id, flows.c.id == flow_id)
    return first_row(conn.execute(q))


def unclassified_flow_ids(conn: Connection, fund_id: str) -> tuple[int, ...]:
    q = (sa.select(flows.c.id).where(flows.c.fund_id == fund_id, flows.c.classification == UNCLASSIFIED)
         .order_by(flows.c.id))
    return tuple(conn.execute(q).scalars())


def last_flow_ts(conn: Connection, fund_id: str) -> float | None:
    return conn.execute(sa.select(sa.func.max(flows.c.ts)).where(flows.c.fund_id == fund_id)).scalar_one()


def set_flow(conn: Connection, flow_id: int, **values: Any) -> None:
    conn.execute(sa.update(flows).where(flows.c.id == flow_id).values(**values))


def flow_by_key(conn: Connection, fund_id: str, flow_key: str) -> Mapping[str, Any] | None:
    return first_row(conn.execute(sa.select(flows).where(flows.c.fund_id == fund_id, flows.c.flow_key == flow_key)))


def flows_near(conn: Connection, fund_id: str, kinds: Sequence[str], ts: float, *, window_s: float,
               classification: str | None = None) -> list[Mapping[str, Any]]:
    """Flows of `kinds` within `window_s` of `ts` (and of `classification`), nearest in time first."""
    q = sa.select(flows).where(flows.c.fund_id == fund_id, flows.c.kind.in_(kinds),
                               flows.c.ts >= ts - window_s, flows.c.ts <= ts + window_s)
    if classification is not None:
        q = q.where(flows.c.classification == classification)
    return sorted(all_rows(conn.execute(q.order_by(flows.c.id))), key=lambda f: abs(f["ts"] - ts))


def delete_flow(conn: Connection, flow_id: int) -> None:
    conn.execute(sa.delete(flows).where(flows.c.id == flow_id))


# --- off-exchange holdings -------------------------------------------------------------------

def last_holdings(conn: Connection, fund_id: str) -> dict[str, Holding]:
    """The quantities of the newest snapshot read (an asset that left is kept at qty 0: dropped here)."""
    q = sa.select(holdings).where(holdings.c.fund_id == fund_id, holdings.c.qty != 0)
    return {r["asset"]: Holding(r["asset"], r["qty"], r["mark"]) for r in all_rows(conn.execute(q))}


def seeded_holdings(conn: Connection, fund_id: str) -> dict[str, Holding] | None:
    """The last seen quantities, or None while the fund has none yet (no inception, or not seeded)."""
    fund = get_fund(conn, fund_id)
    if fund is None or fund["holdings_ts"] is None:
        return None
    return last_holdings(conn, fund_id)


def save_holdings(conn: Connection, fund_id: str, now: Sequence[Holding], ts: float) -> None:
    """`now` becomes the last seen quantities (assets not in it: 0), as of snapshot time `ts`."""
    current = {h.asset: h for h in now}
    known = set(conn.execute(sa.select(holdings.c.asset).where(holdings.c.fund_id == fund_id)).scalars())
    for asset in known - set(current):
        conn.execute(sa.update(holdings).where(holdings.c.fund_id == fund_id, holdings.c.asset == asset)
                     .values(qty=0.0, ts=ts))
    for asset, h in current.items():
        values = {"qty": h.qty, "mark": h.mark, "ts": ts}
        if asset in known:
            conn.execute(sa.update(holdings).where(holdings.c.fund_id == fund_id, holdings.c.asset == asset)
                         .values(**values))
        else:
            conn.execute(sa.insert(holdings).values(fund_id=fund_id, asset=asset, **values))
    conn.execute(sa.update(funds).where(funds.c.fund_id == fund_id).values(holdings_ts=ts))


def insert_move(conn: Connection, row: Mapping[str, Any]) -> bool:
    return insert_ignoring_duplicates(conn, holding_moves, [row]) == 1


def link_moves(conn: Connection, fund_id: str, from_flow: int, to_flow: int) -> None:
    conn.execute(sa.update(holding_moves).where(holding_moves.c.fund_id == fund_id,
                                                holding_moves.c.flow_id == from_flow).values(flow_id=to_flow))


def explains_a_move(conn: Connection, fund_id: str, flow_id: int) -> bool:
    q = sa.select(sa.func.count()).select_from(holding_moves).where(holding_moves.c.fund_id == fund_id,
                                                                     holding_moves.c.flow_id == flow_id)
    return conn.execute(q).scalar_one() > 0


def list_moves(conn: Connection, fund_id: str) -> list[Mapping[str, Any]]:
    q = sa.select(holding_moves).where(holding_moves.c.fund_id == fund_id).order_by(holding_moves.c.ts,
                                                                                     holding_moves.c.id)
    return all_rows(conn.execute(q))


# --- income ----------------------------------------------------------------------------------

def income_between(conn: Connection, fund_id: str, start: float | None, end: float) -> list[dict[str, Any]]:
    q = sa.select(income).where(income.c.fund_id == fund_id, income.c.ts <= end)
    if start is not None:
        q = q.where(income.c.ts > start)
    return [jsonable(r) for r in all_rows(conn.execute(q.order_by(income.c.ts, income.c.id)))]


def net_transfers_usd(conn: Connection, fund_id: str) -> float:
    """Σ amount_usd of every TRANSFER flow (any classification): what went in or out of the accounts."""
    q = sa.select(sa.func.coalesce(sa.func.sum(flows.c.amount_usd), 0.0)).where(
        flows.c.fund_id == fund_id, flows.c.kind == "transfer")
    return float(conn.execute(q).scalar_one())



def first_row(result: Result[Any]) -> Mapping[str, Any] | None:
    """The first row by column name (SQLAlchemy types RowMapping's keys as str or Column; ours are names)."""
    return cast("Mapping[str, Any] | None", result.mappings().first())


def all_rows(result: Result[Any]) -> list[Mapping[str, Any]]:
    return cast("list[Mapping[str, Any]]", list(result.mappings()))


# --- strikes ---------------------------------------------------------------------------------

def list_strikes(conn: Connection, fund_id: str) -> list[Mapping[str, Any]]:
    q = sa.select(strikes).where(strikes.c.fund_id == fund_id).order_by(strikes.c.strike_date)
    return all_rows(conn.execute(q))


def latest_strikes(conn: Connection, fund_id: str, limit: int) -> list[Mapping[str, Any]]:
    """The newest `limit` strikes, oldest first, without their `inputs` (every price and balance: the
    bulk of a strike, which a listing does not show)."""
    cols = [c for c in strikes.c if c.name != "inputs"]
    q = (sa.select(*cols).where(strikes.c.fund_id == fund_id).order_by(strikes.c.strike_date.desc())
         .limit(limit))
    return all_rows(conn.execute(q))[::-1]


def strike_count(conn: Connection, fund_id: str) -> int:
    q = sa.select(sa.func.count()).select_from(strikes).where(strikes.c.fund_id == fund_id)
    return conn.execute(q).scalar_one()


def get_strike(conn: Connection, fund_id: str, label: str) -> Mapping[str, Any] | None:
    q = sa.select(strikes).where(strikes.c.fund_id == fund_id, strikes.c.strike_date == label)
    return first_row(conn.execute(q))


def previous_strike(conn: Connection, fund_id: str, label: str) -> Mapping[str, Any] | None:
    q = (sa.select(strikes).where(strikes.c.fund_id == fund_id, strikes.c.strike_date < label)
         .order_by(strikes.c.strike_date.desc()).limit(1))
    return first_row(conn.execute(q))


def last_strike(conn: Connection, fund_id: str) -> Mapping[str, Any] | None:
    q = (sa.select(strikes).where(strikes.c.fund_id == fund_id)
         .order_by(strikes.c.strike_date.desc()).limit(1))
    return first_row(conn.execute(q))


def jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as plain JSON values (units as their exact decimal text)."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()}

"""The ledger's tables (nav_history, income, flows, strikes, holdings, holding_moves; README "ledger"
describes them), SQLAlchemy Core.

Every table carries `fund_id`, and every unique key starts with it, so one database can
hold many funds. Units are exact: stored as integer nano-units (BIGINT), handled in Python
as `Decimal` with nine places; money and prices are doubles (finite, never NaN).
Alembic migrations (services/ledger/migrations) create these; this module is their reference.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

UNIT_PLACES = 9
NANO = Decimal(10) ** -UNIT_PLACES


class Units(TypeDecorator):
    """A unit count: Decimal in Python, integer nano-units in the database (exact on every engine)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return int(to_nano(Decimal(value)))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return from_nano(int(value))


def to_nano(units: Decimal) -> int:
    """Units as integer nano-units; refuses a value with more than nine places (never rounds silently)."""
    scaled = units.scaleb(UNIT_PLACES)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{units} units has more than {UNIT_PLACES} decimal places")
    return int(scaled)


def from_nano(nano: int) -> Decimal:
    return Decimal(nano).scaleb(-UNIT_PLACES).quantize(NANO)


metadata = MetaData()

funds = Table(
    "funds", metadata,
    Column("fund_id", String(64), primary_key=True),
    Column("inception_ts", Float, nullable=False),
    Column("inception_price", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("holdings_ts", Float),                       # 0003: time of the snapshot `holdings` is from
)

nav_history = Table(
    "nav_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fund_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),          # minute | strike
    Column("bucket", BigInteger, nullable=False),       # minute: int(ts // interval); strike: date ordinal
    Column("minute", BigInteger, nullable=False),       # int(ts // 60): what charts downsample on
    Column("ts", Float, nullable=False),
    Column("nav_total", Float),
    Column("aum_total", Float, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("units", Units, nullable=False),
    Column("source", String(16), nullable=False),
    Column("degraded", Boolean, nullable=False),
    Column("seq", BigInteger),
    Column("entry_id", String(48)),
    UniqueConstraint("fund_id", "kind", "bucket", name="uq_nav_history_bucket"),
)
Index("ix_nav_history_fund_ts", nav_history.c.fund_id, nav_history.c.ts)
Index("ix_nav_history_fund_kind_minute_ts", nav_history.c.fund_id, nav_history.c.kind, nav_history.c.minute,
      nav_history.c.ts)                                   # 0002: each downsampled group's last row is one seek
Index("ix_nav_history_fund_kind_unit_price", nav_history.c.fund_id, nav_history.c.kind,
      nav_history.c.unit_price)                           # 0002: the high-water mark is one seek

income = Table(
    "income", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fund_id", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    Column("type", String(48), nullable=False),
    Column("tran_id", String(64), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("amount", Float, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("ts", Float, nullable=False),
    Column("entry_id", String(48)),
    UniqueConstraint("fund_id", "account", "type", "tran_id", name="uq_income_record"),
)
Index("ix_income_fund_ts", income.c.fund_id, income.c.ts)

flows = Table(
    "flows", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fund_id", String(64), nullable=False),
    # operator:<uuid> | income:<account>:<type>:<tran_id> | holding:<asset>:<entry id> | inception
    Column("flow_key", String(160), nullable=False),
    Column("ts", Float, nullable=False),
    Column("kind", String(16), nullable=False),         # inception | subscription | redemption | transfer | holding
    Column("classification", String(16), nullable=False),  # external | internal | unclassified
    Column("amount_usd", Float),                        # + into the fund, - out; null: no USD price for the asset
    Column("investor", String(64), nullable=False),
    Column("units", Units, nullable=False),             # issued (+) or cancelled (-); 0 when internal
    Column("unit_price", Float),                        # the unit price just before the flow
    Column("aum_before", Float),
    Column("units_before", Units),
    Column("account", String(64)),
    Column("asset", String(32)),
    Column("amount", Float),                            # in `asset`, for transfers and holdings
    Column("note", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("fund_id", "flow_key", name="uq_flows_key"),
)
Index("ix_flows_fund_ts", flows.c.fund_id, flows.c.ts)

strikes = Table(
    "strikes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fund_id", String(64), nullable=False),
    # YYYY-MM-DD (UTC); YYYY-MM-DDTHH:MM:SS when LEDGER_STRIKE_EVERY_S
    Column("strike_date", String(20), nullable=False),
    Column("state", String(10), nullable=False),        # proposed | held | locked
    Column("ts", Float, nullable=False),                # snapshot time the strike is of
    Column("nav_total", Float),
    Column("aum_total", Float, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("units", Units, nullable=False),
    Column("inputs", Text, nullable=False),             # canonical JSON of everything the NAV came from
    Column("reasons", Text, nullable=False),            # JSON list of the gates that held it
    Column("note", Text, nullable=False, default=""),
    Column("approved_by", String(64)),
    Column("late", Boolean, nullable=False, default=False),
    Column("proposed_at", Float, nullable=False),
    Column("locked_at", Float),
    Column("prev_hash", String(64)),
    Column("hash", String(64)),
    UniqueConstraint("fund_id", "strike_date", name="uq_strikes_date"),
)

holdings = Table(                                         # 0003: the last quantity seen of each asset
    "holdings", metadata,
    Column("fund_id", String(64), primary_key=True),
    Column("asset", String(32), primary_key=True),
    Column("qty", Float, nullable=False),
    Column("mark", Float),                              # the USD price it was valued at (null: unpriced)
    Column("ts", Float, nullable=False),
)

holding_moves = Table(                                    # 0003: each change of an asset's quantity
    "holding_moves", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fund_id", String(64), nullable=False),
    Column("asset", String(32), nullable=False),
    Column("ts", Float, nullable=False),                # the first snapshot showing the new quantity
    Column("qty_before", Float, nullable=False),
    Column("qty_after", Float, nullable=False),
    Column("mark", Float),
    Column("amount_usd", Float),                        # (qty_after - qty_before) * mark; null: no mark
    Column("entry_id", String(48)),
    Column("flow_id", Integer),                         # the flow accounting for it: its own, or an operator's
    UniqueConstraint("fund_id", "asset", "ts", name="uq_holding_moves"),
)
Index("ix_holding_moves_fund_flow", holding_moves.c.fund_id, holding_moves.c.flow_id)

"""The fund's record: funds, nav_history, income, flows, strikes.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "funds",
        sa.Column("fund_id", sa.String(64), primary_key=True),
        sa.Column("inception_ts", sa.Float, nullable=False),
        sa.Column("inception_price", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "nav_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fund_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("minute", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("nav_total", sa.Float),
        sa.Column("aum_total", sa.Float, nullable=False),
        sa.Column("unit_price", sa.Float, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("degraded", sa.Boolean, nullable=False),
        sa.Column("seq", sa.BigInteger),
        sa.Column("entry_id", sa.String(48)),
        sa.UniqueConstraint("fund_id", "kind", "bucket", name="uq_nav_history_bucket"),
    )
    op.create_index("ix_nav_history_fund_ts", "nav_history", ["fund_id", "ts"])
    op.create_index("ix_nav_history_fund_kind_minute", "nav_history", ["fund_id", "kind", "minute"])
    op.create_table(
        "income",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fund_id", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("type", sa.String(48), nullable=False),
        sa.Column("tran_id", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("entry_id", sa.String(48)),
        sa.UniqueConstraint("fund_id", "account", "type", "tran_id", name="uq_income_record"),
    )
    op.create_index("ix_income_fund_ts", "income", ["fund_id", "ts"])
    op.create_table(
        "flows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fund_id", sa.String(64), nullable=False),
        sa.Column("flow_key", sa.String(160), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("classification", sa.String(16), nullable=False),
        sa.Column("amount_usd", sa.Float),
        sa.Column("investor", sa.String(64), nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("unit_price", sa.Float),
        sa.Column("aum_before", sa.Float),
        sa.Column("units_before", sa.BigInteger),
        sa.Column("account", sa.String(64)),
        sa.Column("asset", sa.String(32)),
        sa.Column("amount", sa.Float),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("fund_id", "flow_key", name="uq_flows_key"),
    )
    op.create_index("ix_flows_fund_ts", "flows", ["fund_id", "ts"])
    op.create_table(
        "strikes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fund_id", sa.String(64), nullable=False),
        sa.Column("strike_date", sa.String(20), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("nav_total", sa.Float),
        sa.Column("aum_total", sa.Float, nullable=False),
        sa.Column("unit_price", sa.Float, nullable=False),
        sa.Column("units", sa.BigInteger, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("proposed_at", sa.Float, nullable=False),
        sa.Column("locked_at", sa.Float),
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("hash", sa.String(64)),
        sa.UniqueConstraint("fund_id", "strike_date", name="uq_strikes_date"),
    )


def downgrade() -> None:
    for table in ("strikes", "flows", "income", "nav_history", "funds"):
        op.drop_table(table)

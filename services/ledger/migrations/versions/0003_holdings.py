"""Off-exchange holdings: the last quantity the ledger saw of each asset, and each change of it.

`holdings` keeps, per fund and asset, the quantity (and the USD mark it was valued at) in the
newest snapshot the ledger has read; `funds.holdings_ts` is that snapshot's time (null until the
first snapshot after this migration, which seeds `holdings` without recording any movement).
`holding_moves` has one row per change of an asset's quantity between two usable snapshots,
with the flow that accounts for it (its own `holding` flow, or the operator flow explaining it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("funds", sa.Column("holdings_ts", sa.Float, nullable=True))
    op.create_table(
        "holdings",
        sa.Column("fund_id", sa.String(64), primary_key=True),
        sa.Column("asset", sa.String(32), primary_key=True),
        sa.Column("qty", sa.Float, nullable=False),
        sa.Column("mark", sa.Float),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_table(
        "holding_moves",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("fund_id", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(32), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("qty_before", sa.Float, nullable=False),
        sa.Column("qty_after", sa.Float, nullable=False),
        sa.Column("mark", sa.Float),
        sa.Column("amount_usd", sa.Float),
        sa.Column("entry_id", sa.String(48)),
        sa.Column("flow_id", sa.Integer),
        sa.UniqueConstraint("fund_id", "asset", "ts", name="uq_holding_moves"),
    )
    op.create_index("ix_holding_moves_fund_flow", "holding_moves", ["fund_id", "flow_id"])


def downgrade() -> None:
    op.drop_index("ix_holding_moves_fund_flow", table_name="holding_moves")
    op.drop_table("holding_moves")
    op.drop_table("holdings")
    with op.batch_alter_table("funds") as batch:
        batch.drop_column("holdings_ts")

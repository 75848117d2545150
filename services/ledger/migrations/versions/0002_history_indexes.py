"""History indexes for reads that do not grow with the rows stored.

(fund_id, kind, minute, ts) replaces (fund_id, kind, minute): the downsampled history query
finds each group's last row with one backwards seek, ts included, without reading the table.
(fund_id, kind, unit_price) makes the high-water mark one seek instead of a scan of every row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_nav_history_fund_kind_minute_ts", "nav_history", ["fund_id", "kind", "minute", "ts"])
    op.drop_index("ix_nav_history_fund_kind_minute", table_name="nav_history")
    op.create_index("ix_nav_history_fund_kind_unit_price", "nav_history", ["fund_id", "kind", "unit_price"])


def downgrade() -> None:
    op.drop_index("ix_nav_history_fund_kind_unit_price", table_name="nav_history")
    op.create_index("ix_nav_history_fund_kind_minute", "nav_history", ["fund_id", "kind", "minute"])
    op.drop_index("ix_nav_history_fund_kind_minute_ts", table_name="nav_history")

"""`python -m services.ledger`: the fund's record (history, income, flows, units, strikes) in SQL."""

from __future__ import annotations

import sys

from shared.service import exits_on_config_error, run_service
from shared.settings import load_settings

from services.ledger.config import load_ledger_settings
from services.ledger.loop import LedgerLoop


@exits_on_config_error("ledger")
def main() -> int:
    settings = load_settings()
    cfg = load_ledger_settings()
    return run_service("ledger", settings.price_interval_s, lambda ctx: LedgerLoop(ctx, cfg), settings)


if __name__ == "__main__":
    sys.exit(main())

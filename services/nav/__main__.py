"""`python -m services.nav`: the NAV service (account + prices + holdings -> hedge:nav snapshots)."""

from __future__ import annotations

import sys

from shared.service import exits_on_config_error, run_service
from shared.settings import load_settings

from services.nav.loop import NavLoop


@exits_on_config_error("nav")   # also MANUAL_NAV out of range, found when the loop starts
def main() -> int:
    settings = load_settings()
    return run_service("nav", settings.price_interval_s, NavLoop, settings)


if __name__ == "__main__":
    sys.exit(main())

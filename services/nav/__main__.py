"""`python -m services.nav`: the NAV service (account + prices + holdings -> hedge:nav snapshots)."""

from __future__ import annotations

import sys

from shared.errors import ConfigError
from shared.service import run_service
from shared.settings import load_settings

from services.nav.loop import NavLoop


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"nav: {exc}; not starting", file=sys.stderr)
        return 2
    try:
        return run_service("nav", settings.price_interval_s, NavLoop, settings)
    except ConfigError as exc:  # e.g. MANUAL_NAV is negative
        print(f"nav: {exc}; stopping", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`python -m services.pricer`: price every off-exchange asset, mark futures markets, publish FX."""

from __future__ import annotations

import sys

from shared.errors import ConfigError
from shared.service import run_service
from shared.settings import load_settings

from services.pricer.loop import make_loop


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"pricer: {exc}; not starting", file=sys.stderr)
        return 2
    return run_service("pricer", settings.price_interval_s, make_loop, settings)


if __name__ == "__main__":
    sys.exit(main())

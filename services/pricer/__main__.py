"""`python -m services.pricer`: price every off-exchange asset, mark futures markets, publish FX."""

from __future__ import annotations

import sys

from shared.service import exits_on_config_error, run_service
from shared.settings import load_settings

from services.pricer.loop import make_loop


@exits_on_config_error("pricer")
def main() -> int:
    settings = load_settings()
    return run_service("pricer", settings.price_interval_s, make_loop, settings)


if __name__ == "__main__":
    sys.exit(main())

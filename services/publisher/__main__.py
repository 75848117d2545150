"""`python -m services.publisher`: state files, state keys, KPIs and history from hedge:nav and hedge:fills."""

from __future__ import annotations

import sys

from shared.service import exits_on_config_error, run_service
from shared.settings import load_settings

from services.publisher.config import load_publisher_settings
from services.publisher.loop import PublisherLoop


@exits_on_config_error("publisher")
def main() -> int:
    settings = load_settings()
    cfg = load_publisher_settings()
    return run_service("publisher", settings.price_interval_s, lambda ctx: PublisherLoop(ctx, cfg), settings)


if __name__ == "__main__":
    sys.exit(main())

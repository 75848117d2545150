"""`python -m services.publisher`: state files, state keys, KPIs and history from hedge:nav and hedge:fills."""

from __future__ import annotations

import sys

from shared.errors import ConfigError
from shared.service import run_service
from shared.settings import load_settings

from services.publisher.config import load_publisher_settings
from services.publisher.loop import PublisherLoop


def main() -> int:
    try:
        settings = load_settings()
        cfg = load_publisher_settings()
    except ConfigError as exc:
        print(f"publisher: {exc}; not starting", file=sys.stderr)
        return 2
    return run_service("publisher", settings.price_interval_s, lambda ctx: PublisherLoop(ctx, cfg), settings)


if __name__ == "__main__":
    sys.exit(main())

"""`python -m services.publisher`: state files, state keys, KPIs and history from hedge:nav and hedge:fills."""

from __future__ import annotations

import sys

from shared.service import ServiceContext, exits_on_config_error, run_service
from shared.settings import load_settings

from services.publisher.config import PublisherSettings, load_publisher_settings
from services.publisher.loop import PublisherLoop
from services.status import register_status_collector


def make_loop(ctx: ServiceContext, cfg: PublisherSettings) -> PublisherLoop:
    """The publisher's loop; its /metrics also carries what `navstream status` shows (one place)."""
    if ctx.settings.metrics_port_base:
        register_status_collector(ctx.r, ctx.settings)
    return PublisherLoop(ctx, cfg)


@exits_on_config_error("publisher")
def main() -> int:
    settings = load_settings()
    cfg = load_publisher_settings()
    return run_service("publisher", settings.price_interval_s, lambda ctx: make_loop(ctx, cfg), settings)


if __name__ == "__main__":
    sys.exit(main())

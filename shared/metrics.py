"""Prometheus metrics, one registry per process, served on a loopback port.

Each service serves `/metrics` on 127.0.0.1:(METRICS_PORT_BASE + its offset) —
pricer 1, nav 2, publisher 3, dashboard 4, marketsim 5 — so `navstream up` runs
them side by side. METRICS_PORT_BASE=0 turns metrics off.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

PORT_OFFSETS = {"pricer": 1, "nav": 2, "publisher": 3, "dashboard": 4, "marketsim": 5}

PRICES = Counter("navstream_prices_total", "Resolved asset prices published, by pricing tier",
                 ["asset", "source"])
FALLBACKS = Counter("navstream_price_fallbacks_total", "Asset prices that came from a tier below mark",
                    ["asset", "source"])
SOURCE_ERRORS = Counter("navstream_source_errors_total", "Price/account source failures, by kind",
                        ["source", "kind"])
ROUND_SECONDS = Histogram("navstream_pricing_round_seconds", "Duration of one pricing round",
                          buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))
SNAPSHOT_LATENCY = Histogram("navstream_snapshot_latency_seconds",
                             "Newest price observation in a batch to its snapshot on hedge:nav",
                             buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
SNAPSHOTS = Counter("navstream_snapshots_total", "NAV snapshots published, by source", ["source"])
NAV = Gauge("navstream_nav_total_usd", "Futures NAV (wallet + unrealised PnL), USD; NaN when unknown")
AUM = Gauge("navstream_aum_total_usd", "AUM (NAV + off-exchange holdings), USD; NaN when unknown")
NAV_AGE = Gauge("navstream_nav_age_seconds", "Age of the account data behind nav_total; NaN when unknown")
RECON_BREAKS = Gauge("navstream_recon_breaks", "Account assets whose wallet moved more than their income records "
                     "explain (beyond RECON_TOLERANCE_USD)")
STATE_WRITES = Counter("navstream_state_writes_total", "State documents written by the publisher", ["result"])
BINANCE_USED_WEIGHT = Gauge("navstream_binance_used_weight",
                            "Binance's X-MBX-USED-WEIGHT-1M of the last answer: request weight this IP used "
                            "in the current minute (limit 2400 on USD-M)", ["api"])
LISTING_RELOADS = Counter("navstream_listing_reloads_total", "Exchange listings (exchangeInfo) the pricer loaded",
                          ["source"])
ERRORS = Counter("navstream_errors_total", "Errors a service handled, by kind", ["service", "kind"])


def serve_metrics(service: str, port_base: int, host: str = "127.0.0.1") -> int | None:
    """Start the /metrics endpoint for `service`; returns the port, or None when disabled or busy."""
    if not port_base:
        return None
    port = port_base + PORT_OFFSETS.get(service, 9)
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics: cannot listen on %s:%d (%s); metrics for %s are off", host, port, exc.strerror,
                    service)
        return None
    log.info("metrics on http://%s:%d/metrics", host, port)
    return port


def set_gauge(gauge: Gauge, value: float | None) -> None:
    """Prometheus has no null: an unknown value is NaN on the gauge (never 0)."""
    gauge.set(float("nan") if value is None else value)

"""Prometheus metrics, one registry per process, served on METRICS_HOST.

Each service serves `/metrics` on METRICS_HOST:(METRICS_PORT_BASE + its offset) —
pricer 1, nav 2, publisher 3, dashboard 4, marketsim 5, ledger 6 — so `navstream up`
runs them side by side. METRICS_PORT_BASE=0 turns metrics off.

Every metric navstream exports is defined here, with the helpers that set it, so a
service only calls them. Names follow Prometheus conventions: base units in the name
(`_usd`, `_seconds`, `_ratio`, `_entries`), `_total` only on counters, times as
`_timestamp_seconds` gauges (epoch seconds) so alerts compute ages with `time()`.
Unknown is NaN, never 0. Labels are bounded: `asset` by the holdings file and the margin
assets, `account` by ACCOUNTS_FILE, `service`/`stream`/`group` by navstream's own names,
`source`/`kind`/`venue` by fixed vocabularies (README "Monitoring and alerts").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.metrics import MetricWrapperBase as Metric

from shared.contracts.vocabulary import NO_PRICE, TIERS

if TYPE_CHECKING:
    from shared.settings import Settings

log = logging.getLogger(__name__)
M = TypeVar("M", bound=Metric)

PORT_OFFSETS = {"pricer": 1, "nav": 2, "publisher": 3, "dashboard": 4, "marketsim": 5, "ledger": 6}

TIER_LEVELS: Mapping[str, int] = {tier: level for level, tier in enumerate((*TIERS, NO_PRICE))}
"""`navstream_price_tier` values: mark 0, spot_cache 1, coingecko 2, avg_cost 3, none 4.
deploy/prometheus/alerts.yml relies on them (1-2 a market fallback, 3 and up the operator's
number or nothing); tests/monitoring pins them."""

SOURCE_ERROR_KINDS = ("timeout", "rate_limited", "unavailable", "bad_data", "internal")
"""`kind` of navstream_source_errors_total (services/pricer/runner.py). The pricer creates every
source x kind at 0 on start, so `increase()` sees the first failure (a counter born at 1 has none)."""

DRAWDOWN_LEVELS: Mapping[str, int] = {"normal": 0, "warning": 1, "critical": 2}
"""`navstream_drawdown_state` values, from the publisher's dd_state (PUBLISHER_DD_WARNING / _DD_CRITICAL)."""

OWNED: dict[str, list[Metric]] = {}
"""The metrics each service exports; "*" every service. Others' metrics stay out of its /metrics,
so no process shows a 0 for a figure it does not compute."""


def _owned(owner: str, cls: type[M], name: str, doc: str, labels: tuple[str, ...] | list[str] = (),
           **kw: Any) -> M:
    metric = cls(name, doc, labels, registry=None, **kw)
    if isinstance(metric, Gauge) and not labels:
        metric.set(math.nan)   # unknown until the service sets it, never 0
    OWNED.setdefault(owner, []).append(metric)
    return metric


# --- pricer ------------------------------------------------------------------------------
PRICES = _owned("pricer", Counter, "navstream_prices_total",
                "Resolved asset prices published, by pricing tier", ["asset", "source"])
FALLBACKS = _owned("pricer", Counter, "navstream_price_fallbacks_total",
                   "Asset prices that came from a tier below mark", ["asset", "source"])
SOURCE_ERRORS = _owned("pricer", Counter, "navstream_source_errors_total",
                       "Price source failures, by kind (SOURCE_ERROR_KINDS)", ["source", "kind"])
ROUND_SECONDS = _owned("pricer", Histogram, "navstream_pricing_round_seconds", "Duration of one pricing round",
                       buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))
PRICE_TIER = _owned("pricer", Gauge, "navstream_price_tier",
                    "Tier that priced the asset this round: 0 mark, 1 spot_cache, 2 coingecko, 3 avg_cost, 4 none",
                    ["asset"])
PRICE_TIMESTAMP = _owned("pricer", Gauge, "navstream_last_price_timestamp_seconds",
                         "Observation time of the asset's price used this round; NaN when no tier priced it",
                         ["asset"])
DIVERGENCE = _owned("pricer", Gauge, "navstream_price_divergence_ratio",
                    "(max - min) / min of the asset's usable live prices; NaN with fewer than two", ["asset"])
DIVERGED = _owned("pricer", Gauge, "navstream_price_diverged",
                  "1 while the asset's live sources disagree beyond DIVERGENCE_THRESHOLD", ["asset"])
DEPEG = _owned("pricer", Gauge, "navstream_stablecoin_depeg_ratio",
               "|price - 1| of a stablecoin (STABLECOINS); NaN when unpriced", ["asset"])
DEPEGGED = _owned("pricer", Gauge, "navstream_stablecoin_depegged",
                  "1 while the stablecoin is more than DEPEG_THRESHOLD from 1.0", ["asset"])
LISTING_RELOADS = _owned("pricer", Counter, "navstream_listing_reloads_total",
                         "Exchange listings (exchangeInfo) the pricer loaded, by source", ["source"])

# --- Binance request weight (the pricer sets it from the answers it gets) -------------------
USED_WEIGHT = _owned("*", Gauge, "navstream_binance_used_weight",
                     "Binance request weight used in the current minute (X-MBX-USED-WEIGHT-1M), by API: "
                     "usdm (fapi) or spot (api)", ["venue"])
WEIGHT_LIMIT = _owned("*", Gauge, "navstream_binance_weight_limit",
                      "Binance request weight allowed per minute (exchangeInfo rateLimits REQUEST_WEIGHT)",
                      ["venue"])

# --- nav ---------------------------------------------------------------------------------
SNAPSHOT_LATENCY = _owned("nav", Histogram, "navstream_snapshot_latency_seconds",
                          "Newest price observation in a batch to its snapshot on hedge:nav",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
SNAPSHOTS = _owned("nav", Counter, "navstream_snapshots_total", "NAV snapshots published, by source", ["source"])
NAV = _owned("nav", Gauge, "navstream_nav_usd", "Futures NAV (wallet + unrealised PnL), USD; NaN when unknown")
AUM = _owned("nav", Gauge, "navstream_aum_usd", "AUM (NAV + off-exchange holdings), USD; NaN when unknown")
NAV_AGE = _owned("nav", Gauge, "navstream_nav_age_seconds",
                 "Age of the account data behind nav_total; NaN when unknown")
SNAPSHOT_TIMESTAMP = _owned("nav", Gauge, "navstream_last_snapshot_timestamp_seconds",
                            "`ts` of the newest snapshot the nav service put on hedge:nav")
SNAPSHOT_DEGRADED = _owned("nav", Gauge, "navstream_snapshot_degraded",
                           "1 when the newest snapshot has status.degraded")
ACCOUNT_TIMESTAMP = _owned("nav", Gauge, "navstream_account_data_timestamp_seconds",
                           "When the account's last good data was read from the exchange; NaN if never",
                           ["account"])
RECON_BREAKS = _owned("nav", Gauge, "navstream_recon_breaks",
                      "Reconciliation breaks open for the account and asset (wallet change not explained "
                      "by income beyond RECON_TOLERANCE_USD)", ["account", "asset"])

# --- publisher -----------------------------------------------------------------------------
STATE_WRITES = _owned("publisher", Counter, "navstream_state_writes_total",
                      "State documents written by the publisher", ["result"])
DRAWDOWN = _owned("publisher", Gauge, "navstream_drawdown_ratio",
                  "Futures NAV below its running peak, (peak - nav) / peak; NaN when unknown")
DRAWDOWN_STATE = _owned("publisher", Gauge, "navstream_drawdown_state",
                        "Drawdown state: 0 normal, 1 warning (PUBLISHER_DD_WARNING), 2 critical "
                        "(PUBLISHER_DD_CRITICAL); NaN when unknown")
PEAK_NAV = _owned("publisher", Gauge, "navstream_peak_nav_usd",
                  "Running peak of futures NAV behind the drawdown, USD")

# --- ledger --------------------------------------------------------------------------------
UNIT_PRICE = _owned("ledger", Gauge, "navstream_unit_price",
                    "Unit price of the fund (aum.total / units), USD per unit; NaN when unknown")
LEDGER_ROWS = _owned("ledger", Counter, "navstream_ledger_rows_total", "Rows the ledger committed, by table",
                     ["table"])
STRIKE_HELD = _owned("ledger", Gauge, "navstream_strike_held",
                     "1 while the day's strike is held for the operator's approval")

# --- every service ---------------------------------------------------------------------------
ERRORS = _owned("*", Counter, "navstream_errors_total", "Errors a service handled, by kind", ["service", "kind"])
BUILD_INFO = _owned("*", Gauge, "navstream_build_info", "Always 1; the installed navstream version", ["version"])


def _version() -> str:
    try:
        return metadata.version("navstream")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(_version()).set(1)


def serve_metrics(service: str, settings: Settings) -> int | None:
    """Start `service`'s /metrics on METRICS_HOST; returns the port, or None when disabled or busy."""
    if not settings.metrics_port_base:
        return None
    for metric in OWNED.get(service, []) + OWNED["*"]:
        REGISTRY.register(metric)
    host = settings.metrics_host
    port = settings.metrics_port_base + PORT_OFFSETS.get(service, 9)
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


def set_labelled(gauge: Gauge, values: Mapping[str, float | None]) -> None:
    """Set a one-label gauge to exactly `values`: labels no longer present are removed, so an
    asset dropped from the holdings file stops being exported instead of freezing."""
    for (label,) in [key for key in _label_keys(gauge) if key[0] not in values]:
        gauge.remove(label)
    for label, value in values.items():
        set_gauge(gauge.labels(label), value)


def _label_keys(gauge: Gauge) -> list[tuple[str, ...]]:
    return [tuple(sample.labels[name] for name in gauge._labelnames)
            for metric in gauge.collect() for sample in metric.samples]


# --- helpers other services call ---------------------------------------------------------------

def init_source_errors(sources: list[str]) -> None:
    """Create each source's error counters at 0 (see SOURCE_ERROR_KINDS)."""
    for source in sources:
        for kind in SOURCE_ERROR_KINDS:
            SOURCE_ERRORS.labels(source, kind)


def record_account_data(account: str, ts: float | None) -> None:
    """The time of `account`'s last good exchange data (nav service, per account)."""
    set_gauge(ACCOUNT_TIMESTAMP.labels(account), ts)


def record_recon_breaks(account: str, breaks: Mapping[str, int]) -> None:
    """Open reconciliation breaks of `account`, per asset; assets not in `breaks` go back to 0."""
    for key in _label_keys(RECON_BREAKS):
        if key[0] == account and key[1] not in breaks:
            RECON_BREAKS.labels(*key).set(0)
    for asset, n in breaks.items():
        RECON_BREAKS.labels(account, asset).set(n)


def record_used_weight(venue: str, used: float, limit: float) -> None:
    """Binance's X-MBX-USED-WEIGHT-1M for `venue` ("usdm" or "spot") and that API's per-minute limit."""
    USED_WEIGHT.labels(venue).set(used)
    WEIGHT_LIMIT.labels(venue).set(limit)


def record_drawdown(dd_ratio: float | None, dd_state: str | None, peak_nav: float | None) -> None:
    """The publisher's futures drawdown KPI (kpis_v7.json `drawdown`)."""
    set_gauge(DRAWDOWN, dd_ratio)
    set_gauge(DRAWDOWN_STATE, None if dd_state is None else DRAWDOWN_LEVELS.get(dd_state))
    set_gauge(PEAK_NAV, peak_nav)

"""The pricer's loop: wire the sources to the pure round, publish, report, wait out the interval."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import requests

from shared.backoff import Episode
from shared.contracts.vocabulary import NO_PRICE, TIERS, USD_PAR_ASSET, fx_pair
from shared.exchange import make_spot, make_usdm
from shared.holdings import Holding, HoldingsWatcher
from shared.metrics import (
    DEPEG,
    DEPEGGED,
    DIVERGED,
    DIVERGENCE,
    FALLBACKS,
    PRICE_TIER,
    PRICE_TIMESTAMP,
    PRICES,
    ROUND_SECONDS,
    SOURCE_ERRORS,
    TIER_LEVELS,
    init_source_errors,
    set_labelled,
)
from shared.service import ServiceContext
from shared.settings import Settings

from services.pricer.assemble import ANY, Observed, Policy, RoundResult, assemble_round
from services.pricer.chain import TierLimits
from services.pricer.divergence import Episodes
from services.pricer.publish import RedisView, publish_round, read_view
from services.pricer.runner import RoundAnswers, SourceRunner
from services.pricer.sources.avg_cost import AvgCostSource
from services.pricer.sources.base import PriceSource, Want
from services.pricer.sources.binance import MarkSource, SpotSource
from services.pricer.sources.coingecko import CoingeckoSource, IdMapFile, key_headers

def policy_from(settings: Settings) -> Policy:
    limits = TierLimits(mark=settings.mark_max_age_s, spot_cache=settings.spot_cache_ttl_s,
                        coingecko=settings.coingecko_ttl_s + settings.coingecko_update_lag_s)
    rates = {k.upper(): v for k, v in settings.fx_fallback_rates.items()}
    return Policy(limits=limits, divergence_threshold=settings.divergence_threshold,
                  depeg_threshold=settings.depeg_threshold, display_currency=settings.display_currency,
                  fx_fallback_rate=rates.get(settings.display_currency), stablecoins=settings.stablecoins)


def build_sources(settings: Settings, holdings: HoldingsWatcher, ids: IdMapFile) -> list[PriceSource]:
    timeout = settings.source_timeout_s
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    return [
        MarkSource(make_usdm(settings, timeout_s=timeout), timeout),
        SpotSource(make_spot(settings, timeout_s=timeout), timeout),
        CoingeckoSource(session, settings.coingecko_base_url, ids, ttl_s=settings.coingecko_ttl_s,
                        timeout_s=timeout, currency=settings.display_currency,
                        headers=key_headers(settings.coingecko_key(), settings.coingecko_plan)),
        AvgCostSource(holdings),
    ]


def observed_from(answers: RoundAnswers) -> Observed:
    quotes = {name: answer.quotes for name, answer in answers.answers.items()}
    problems: dict[str, dict[str, str]] = {}
    for name, answer in answers.answers.items():
        problems[name] = dict(answer.problems)
        if name in answers.failures:
            problems[name][ANY] = answers.failures[name]
    cg = answers.answers.get("coingecko")
    fx_problem = answers.failures.get("coingecko") or (cg.fx_problem if cg else "no CoinGecko source")
    mark = answers.answers.get("mark")
    return Observed(quotes=quotes, fx=cg.fx if cg else None, problems={**problems, "fx": {ANY: fx_problem}},
                    contracts=mark.contracts if mark else {})


def with_tracked_assets(holdings: Mapping[str, Holding], tracked: Iterable[str]) -> dict[str, Holding]:
    """The holdings plus the margin assets nav needs a USD price for (`hedge:assets:tracked`), priced
    like holdings (no quantity, no avg_cost). USDT is 1 USD by definition: nav values it at par."""
    out = dict(holdings)
    for asset in sorted(tracked):
        if asset not in out and asset != USD_PAR_ASSET:
            out[asset] = Holding(asset, 0.0, None, f"{asset}{USD_PAR_ASSET}")
    return out


class PricerLoop:
    """One pricing round per `step()`; see README "pricer" ("The fallback chain (per asset)")."""

    def __init__(self, ctx: ServiceContext, sources: Sequence[PriceSource] | None = None) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.log = ctx.log
        self.interval_s = settings.price_interval_s
        self.maxlen = settings.stream_maxlen
        self.holdings = HoldingsWatcher(settings.holdings_file)
        self.ids = IdMapFile(settings.coingecko_ids_file)
        self.runner = SourceRunner(sources or build_sources(settings, self.holdings, self.ids),
                                   ctx.log, self._source_failed)
        init_source_errors(list(self.runner.statuses))
        self.policy = policy_from(settings)
        self.view = RedisView()
        self.tiers: dict[str, str] = {}
        self.divergence = Episodes()
        self.depeg = Episodes()
        self.fx_fallback = Episode(ctx.log, f"FX {fx_pair(settings.display_currency)} from CoinGecko")
        self.max_round_ms = 0.0

    def setup(self) -> None:
        self.view = read_view(self.ctx.r, self.ctx.keys)

    def step(self) -> None:
        started = time.monotonic()
        self.run_round()
        remaining = self.interval_s - (time.monotonic() - started)
        if remaining > 0:
            self.ctx.stop.wait(remaining)

    def run_round(self) -> RoundResult:
        started = time.monotonic()
        self._poll_files()
        holdings = with_tracked_assets(self.holdings.current, self.view.tracked_assets)
        want = Want(holdings, self.view.tracked)
        answers = self.runner.run(want, time.time())
        now = time.time()
        result = assemble_round(holdings, want.all_markets, observed_from(answers), now, self.policy)
        round_ms = (time.monotonic() - started) * 1000.0
        self._log_changes(result)
        self._update_health(result, now, round_ms)
        self.view = publish_round(self.ctx.r, self.ctx.keys, result, self.view,
                                  maxlen=self.maxlen, heartbeat=self.ctx.heartbeat)
        return result

    def close(self) -> None:
        self.runner.close()

    # --- files ---------------------------------------------------------------------
    def _poll_files(self) -> None:
        for watcher in (self.holdings, self.ids):
            had_error = watcher.error
            if not watcher.poll():
                continue
            if watcher.error:
                self.log.error("%s", watcher.error)
                self.ctx.heartbeat.error(watcher.error)
            elif had_error:
                self.log.warning("%s: read OK again", watcher.path)

    # --- logs: once per change, never every round ------------------------------------------
    def _log_changes(self, result: RoundResult) -> None:
        for asset, outcome in result.assets.items():
            tier = outcome.chosen.source if outcome.chosen else NO_PRICE
            before = self.tiers.get(asset)
            if tier == before:
                continue
            why = "; ".join(f"{t}: {outcome.errors[t]}" for t in TIERS if t in outcome.errors)
            went_down = before is not None and _rank(tier) > _rank(before)
            if tier == NO_PRICE:
                self.log.error("%s: no tier can price it; it is not published (%s)", asset, why)
            elif went_down or (before is None and tier != TIERS[0]):
                self.log.warning("%s: priced by %s%s (%s)", asset, tier, f", was {before}" if before else "", why)
            else:
                self.log.info("%s: priced by %s%s", asset, tier, f", was {before}" if before else "")
        self.tiers = {a: (o.chosen.source if o.chosen else NO_PRICE) for a, o in result.assets.items()}
        self._log_flags(result)
        if result.fx_problem:
            self.fx_fallback.failed(result.fx_problem, "using the configured fallback rate"
                                    if self.policy.fx_fallback_rate else "publishing no FX rate")
        elif self.fx_fallback.active:
            self.fx_fallback.recovered()

    def _log_flags(self, result: RoundResult) -> None:
        started, ended = self.divergence.update(result.diverged)
        self.ctx.heartbeat.count("divergences", len(started))
        for asset in sorted(started):
            doc = result.assets[asset].report()
            prices = ", ".join(f"{t} {v['px']:.6g}" for t, v in doc["sources"].items() if v and t != "avg_cost")
            self.log.warning("%s: live sources disagree by %.2f %% (%s), more than %.2f %%; flagged diverged",
                             asset, doc["spread_pct"], prices, self.policy.divergence_threshold * 100)
        for asset in sorted(ended):
            self.log.warning("%s: live sources agree again; divergence flag cleared", asset)
        started, ended = self.depeg.update(result.depegged)
        self.ctx.heartbeat.count("depegs", len(started))
        for asset in sorted(started):
            chosen = result.assets[asset].chosen
            self.log.warning("%s: stablecoin priced at %.6g by %s, more than %.2f %% from 1.0; flagged depeg",
                             asset, chosen.price, chosen.source, self.policy.depeg_threshold * 100)
        for asset in sorted(ended):
            self.log.warning("%s: back within %.2f %% of 1.0; depeg flag cleared",
                             asset, self.policy.depeg_threshold * 100)

    # --- health ----------------------------------------------------------------------------
    def _source_failed(self, source: str, kind: str, message: str) -> None:
        self.ctx.heartbeat.error(f"price source {source}: {message}")
        self.ctx.heartbeat.count(f"source_errors.{source}.{kind}")
        SOURCE_ERRORS.labels(source, kind).inc()

    def _update_health(self, result: RoundResult, now: float, round_ms: float) -> None:
        hb = self.ctx.heartbeat
        hb.count("rounds")
        hb.count("prices_published", len(result.prices))
        for tier, n in result.asset_sources.items():
            hb.count(f"prices_by_source.{tier}", n)
        hb.count("fallbacks", len(result.fallbacks))
        for asset, outcome in result.assets.items():
            if outcome.chosen is not None:
                PRICES.labels(asset, outcome.chosen.source).inc()
                if outcome.chosen.source != TIERS[0]:
                    FALLBACKS.labels(asset, outcome.chosen.source).inc()
        ROUND_SECONDS.observe(round_ms / 1000.0)
        export_round(result, self.policy.stablecoins)
        self.max_round_ms = max(self.max_round_ms, round_ms)
        statuses = self.runner.statuses
        sources_ok = all(s.state in ("ok", "idle") for s in statuses.values())
        flagged = result.diverged | result.depegged
        degraded = (not sources_ok or result.unpriced or flagged or self.holdings.error or self.ids.error
                    or result.fx_problem)
        hb.status = "degraded" if degraded else "ok"
        hb.gauges.update({
            "round": {"ts": now, "ms": round(round_ms, 1), "max_ms": round(self.max_round_ms, 1)},
            "round_ms": round(round_ms, 1),
            "sources": {name: status.doc() for name, status in statuses.items()},
            "prices_by_source": dict(result.asset_sources),
            "fallback_assets": list(result.fallbacks),
            "unpriced": list(result.unpriced),
            "diverged": sorted(result.diverged),
            "depeg": sorted(result.depegged),
            "fx": {"sym": fx_pair(self.policy.display_currency), "problem": result.fx_problem},
            "holdings_error": self.holdings.error,
            "coingecko_ids_error": self.ids.error,
            "tracked_assets": sorted(self.view.tracked_assets),
            "binance_weight": self._weights(now),
        })

    def _weights(self, now: float) -> dict[str, object]:
        """Request weight per Binance API: what the pricer spent in the last minute, what Binance reported,
        and how many listings (exchangeInfo) it loaded since start."""
        out: dict[str, object] = {}
        for slot in self.runner.slots.values():
            source = slot.source
            meter = getattr(source, "weight_last_minute", None)
            if meter is None:
                continue
            directory = getattr(source, "directory", None)
            out[source.name] = {"weight_1m": meter(now), "used_weight_1m": getattr(source, "used_weight", None),
                                "listing_reloads": directory.reloads if directory else None,
                                "absent": sorted(directory.absent) if directory else []}
        return out


def export_round(result: RoundResult, stablecoins: frozenset[str]) -> None:
    """Per-asset gauges of the round: tier, price time, divergence and depeg (shared/metrics.py)."""
    tier: dict[str, float | None] = {}
    stamp: dict[str, float | None] = {}
    spread: dict[str, float | None] = {}
    depeg: dict[str, float | None] = {}
    for asset, outcome in result.assets.items():
        chosen = outcome.chosen
        tier[asset] = TIER_LEVELS.get(chosen.source if chosen else NO_PRICE, TIER_LEVELS[NO_PRICE])
        stamp[asset] = outcome.chosen_ts
        pct = outcome.agreement.spread_pct
        spread[asset] = None if pct is None else pct / 100.0
        if asset in stablecoins:
            depeg[asset] = None if chosen is None else abs(chosen.price - 1.0)
    set_labelled(PRICE_TIER, tier)
    set_labelled(PRICE_TIMESTAMP, stamp)
    set_labelled(DIVERGENCE, spread)
    set_labelled(DIVERGED, {a: float(a in result.diverged) for a in result.assets})
    set_labelled(DEPEG, depeg)
    set_labelled(DEPEGGED, {a: float(a in result.depegged) for a in depeg})


def _rank(tier: str) -> int:
    return TIERS.index(tier) if tier in TIERS else len(TIERS)


def make_loop(ctx: ServiceContext) -> PricerLoop:
    return PricerLoop(ctx)

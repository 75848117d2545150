"""Synthetic inputs shaped exactly like the real ones: holdings files, pricer rounds, account data.

Every price the benchmark publishes is unique and, per symbol, strictly increasing
(`PriceTape`), so a reader can tell which update a snapshot reflects by its `mark`
alone: a snapshot reflects an update when the symbol's mark is >= the update's price.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from shared.atomic import write_json_atomic
from shared.contracts.prices import PriceObservation
from shared.contracts.vocabulary import fx_pair
from shared.holdings import Holding

from services.nav.model import AccountPosition, AccountSnapshot, AccountState
from services.pricer.assemble import Observed, Policy, RoundResult, assemble_round
from services.pricer.chain import Quote, TierLimits
from services.pricer.units import ContractInfo

PRICE_BASE = 1000.0
PRICE_STEP = 0.0001           # unique per update: PRICE_BASE + n * PRICE_STEP
FX_RATE = 18.21
DISPLAY_CURRENCY = "ZAR"


def asset_names(n: int) -> list[str]:
    """N valid holdings symbols, sorted the way the pricer publishes them ("B00000", "B00001", ...)."""
    return [f"B{i:05d}" for i in range(n)]


def holdings_doc(n: int) -> dict[str, dict[str, float]]:
    return {sym: {"qty": 1.0 + (i % 7), "avg_cost": 900.0 + (i % 100)} for i, sym in enumerate(asset_names(n))}


def holdings(n: int) -> dict[str, Holding]:
    """The parsed form of `holdings_doc(n)` (what the nav's HoldingsWatcher would hold)."""
    return {sym: Holding(sym, h["qty"], h["avg_cost"], f"{sym}USDT") for sym, h in holdings_doc(n).items()}


def write_holdings(path: Path, n: int) -> None:
    """Replace the holdings file atomically: the services' watchers see a new inode and reload."""
    write_json_atomic(path, holdings_doc(n))


class PriceTape:
    """Hands out unique, increasing prices; remembers nothing else."""

    def __init__(self) -> None:
        self.n = 0

    def next(self) -> float:
        self.n += 1
        return PRICE_BASE + self.n * PRICE_STEP


def bench_policy() -> Policy:
    return Policy(limits=TierLimits(mark=30.0, spot_cache=60.0, coingecko=150.0), divergence_threshold=0.02,
                  depeg_threshold=0.005, display_currency=DISPLAY_CURRENCY, fx_fallback_rate=FX_RATE)


class RoundMaker:
    """Pricer rounds for a holdings file of N assets, every asset priced by its futures mark.

    The provenance (`assets`) comes from the pricer's own pure `assemble_round`, run once
    per size; each round then carries fresh observations from the tape. Rounds include a
    mark for every tracked market (the account's positions) and the USD<CCY> rate, as the
    pricer's rounds do.
    """

    def __init__(self, n: int, tape: PriceTape) -> None:
        self.assets = asset_names(n)
        self.tape = tape
        now = time.time()
        marks = {f"{sym}USDT": Quote(PRICE_BASE, now) for sym in self.assets}
        contracts = {f"{sym}USDT": ContractInfo.linear_perpetual(f"{sym}USDT", sym) for sym in self.assets}
        observed = Observed(quotes={"mark": marks}, fx=Quote(FX_RATE, now), contracts=contracts)
        self.template: RoundResult = assemble_round(holdings(n), (), observed, now, bench_policy())
        self.fx_sym = fx_pair(DISPLAY_CURRENCY)

    def full_round(self, tracked: Iterable[str] = ()) -> RoundResult:
        """Every asset, every tracked market, the FX rate: one pricer round."""
        return self.partial_round(self.assets, tracked)

    def partial_round(self, assets: Sequence[str], tracked: Iterable[str] = (), *,
                      extras: bool = True) -> RoundResult:
        """Prices for `assets` only; with `extras`, also the tracked markets' marks and the FX rate."""
        now = time.time()
        prices = [PriceObservation(sym, self.tape.next(), "mark", now) for sym in assets]
        if extras:
            prices.extend(PriceObservation(m, self.tape.next(), "mark", now) for m in sorted(tracked))
            prices.append(PriceObservation(self.fx_sym, FX_RATE, "coingecko", now))
        outcomes = self.template.assets
        return replace(self.template, prices=tuple(prices),
                       assets={a: outcomes[a] for a in assets} if len(assets) != len(outcomes) else outcomes)


def account_state(n_positions: int, now: float) -> AccountState:
    """A live account with `n_positions` positions on markets "P00000USDT"... (half long, half short)."""
    positions = tuple(
        AccountPosition(f"P{i:05d}USDT", "LONG" if i % 2 == 0 else "SHORT", 0.5 + i % 5, 1000.0 + i,
                        1001.0 + i, (1.0 if i % 2 == 0 else -1.0) * (0.5 + i % 5))
        for i in range(n_positions))
    snapshot = AccountSnapshot(ts=now, wallet_balance=1_000_000.0, margin_balance=1_000_100.0,
                               positions=positions)
    return AccountState(snapshot, None, 1)


def valuation_prices(n_holdings: int, n_positions: int, now: float) -> dict[str, PriceObservation]:
    """The nav's latest-price map: one price per asset, one mark per position market, FX."""
    tape = PriceTape()
    prices = {sym: PriceObservation(sym, tape.next(), "mark", now - 0.4) for sym in asset_names(n_holdings)}
    for i in range(n_positions):
        market = f"P{i:05d}USDT"
        prices[market] = PriceObservation(market, 1002.0 + i, "mark", now - 0.2)
    fx = fx_pair(DISPLAY_CURRENCY)
    prices[fx] = PriceObservation(fx, FX_RATE, "coingecko", now - 5.0)
    return prices

"""Simulated router fills (pure: the caller passes the random generator, marks and time).

A fill is maker about 70 % of the time; about 15 % are router fallbacks (the maker
route gave up and crossed the spread, so they are taker); the rest are plain taker.
Fees are 2 bps (maker) or 5 bps (taker) of notional; slippage is ≤ 0.5 bps for makers
and 1–5 bps for takers; realised PnL is a plausible draw on closing fills (60 %), negative for about a quarter of them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.contracts.fills import Fill

MAKER_SHARE = 0.70
FALLBACK_SHARE = 0.15
MAKER_FEE_BPS = 2.0
TAKER_FEE_BPS = 5.0


@dataclass(frozen=True, slots=True)
class FillMarket:
    market: str
    step: float          # quantity step of the market
    min_qty: float


def round_qty(qty: float, step: float, min_qty: float) -> float:
    steps = max(1, round(qty / step))
    return max(min_qty, round(steps * step, 10))


def make_fill(rng: random.Random, markets: Sequence[FillMarket], marks: Mapping[str, float],
              *, now: float, fill_id: str) -> Fill:
    """One fill on a random market of `markets` priced off its mark."""
    market = rng.choice(list(markets))
    mark = marks[market.market]
    roll = rng.random()
    maker = roll < MAKER_SHARE
    fallback = MAKER_SHARE <= roll < MAKER_SHARE + FALLBACK_SHARE
    side = rng.choice(("BUY", "SELL"))
    slippage_bps = rng.uniform(0.0, 0.5) if maker else rng.uniform(1.0, 5.0)
    # Slippage always costs: buys fill above the mark, sells below.
    sign = 1.0 if side == "BUY" else -1.0
    px = mark * (1.0 + sign * slippage_bps / 1e4)
    qty = round_qty(rng.uniform(500.0, 8_000.0) / px, market.step, market.min_qty)
    notional = qty * px
    fee = notional * (MAKER_FEE_BPS if maker else TAKER_FEE_BPS) / 1e4
    # Closing trades realise a gain or loss of a few tens of bps of notional, skewed slightly positive.
    realized = notional * rng.gauss(8.0, 12.0) / 1e4 if rng.random() < 0.6 else 0.0
    return Fill(id=fill_id, sym=market.market, side=side, qty=qty, px=round(px, 8),
                fee_usd=round(fee, 8), liquidity="maker" if maker else "taker", fallback=fallback,
                realized_pnl_usd=round(realized, 8), slippage_bps=round(slippage_bps, 4), ts=now)

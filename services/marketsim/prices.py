"""Seeded random-walk prices, advanced lazily from elapsed time (pure: the caller passes `now`).

One "true" price per asset walks geometrically every `step_s`; each source (futures mark,
spot, CoinGecko) sees it through its own small basis of a few bps, so sources are close
but never identical and divergence checks have something to measure. The same seed and
the same elapsed time give the same prices, whoever asked in between.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from services.marketsim.specs import AssetSpec

STEP_S = 0.2
SOURCES = ("mark", "spot", "coingecko")

# Mean basis of each source against the true price, in bps, and the AR(1) noise around it.
_BASIS_MEAN_BPS = {"mark": 0.0, "spot": 2.0, "coingecko": -3.0}
_BASIS_NOISE_BPS = 1.0
_BASIS_REVERT = 0.1
# Past this many missed steps (a long idle spell), one aggregated step stands in for them.
_MAX_EXACT_STEPS = 600


@dataclass(frozen=True, slots=True)
class Session:
    """Open/high/low of an asset's true price since the walk started (for 24 h tickers)."""

    open: float
    high: float
    low: float


class PriceWalk:
    """Prices of `assets` at any time >= `start`; `advance(now)` catches the walk up."""

    def __init__(self, assets: Iterable[AssetSpec], *, seed: int, start: float, step_s: float = STEP_S) -> None:
        self._specs = {a.asset: a for a in assets}
        self._rng = random.Random(seed)
        self._start = start
        self._step_s = step_s
        self._steps = 0
        self._log_px = {name: math.log(spec.start_px) for name, spec in self._specs.items()}
        self._basis = {(name, src): _BASIS_MEAN_BPS[src] for name in self._specs for src in SOURCES}
        self._high = {name: spec.start_px for name, spec in self._specs.items()}
        self._low = dict(self._high)

    @property
    def steps(self) -> int:
        return self._steps

    def advance(self, now: float) -> None:
        target = int(max(0.0, now - self._start) / self._step_s)
        missed = target - self._steps
        if missed <= 0:
            return
        if missed > _MAX_EXACT_STEPS:
            self._jump(missed - _MAX_EXACT_STEPS)
            missed = _MAX_EXACT_STEPS
        for _ in range(missed):
            self._step()
        self._steps = target

    def _step(self) -> None:
        gauss = self._rng.gauss
        for name, spec in self._specs.items():
            anchor = math.log(spec.start_px)
            x = self._log_px[name]
            x += -spec.revert * (x - anchor) + spec.sigma * gauss(0.0, 1.0)
            self._log_px[name] = x
            px = math.exp(x)
            self._high[name] = max(self._high[name], px)
            self._low[name] = min(self._low[name], px)
            for src in SOURCES:
                b = self._basis[(name, src)]
                mean = _BASIS_MEAN_BPS[src]
                self._basis[(name, src)] = b - _BASIS_REVERT * (b - mean) + _BASIS_NOISE_BPS * 0.45 * gauss(0.0, 1.0)

    def _jump(self, n: int) -> None:
        """`n` steps at once: the exact variance of n Gaussian steps (with reversion, its limit)."""
        gauss = self._rng.gauss
        for name, spec in self._specs.items():
            anchor = math.log(spec.start_px)
            x = self._log_px[name]
            if spec.revert > 0:
                keep = (1 - spec.revert) ** n
                var = spec.sigma ** 2 * (1 - keep ** 2) / (1 - (1 - spec.revert) ** 2)
                x = anchor + keep * (x - anchor) + math.sqrt(var) * gauss(0.0, 1.0)
            else:
                x += spec.sigma * math.sqrt(n) * gauss(0.0, 1.0)
            self._log_px[name] = x
            px = math.exp(x)
            self._high[name] = max(self._high[name], px)
            self._low[name] = min(self._low[name], px)
        self._steps += n

    def true_price(self, asset: str) -> float:
        return math.exp(self._log_px[asset])

    def price(self, asset: str, source: str) -> float:
        """The price `source` reports for `asset` right now (call `advance` first)."""
        return self.true_price(asset) * (1.0 + self._basis[(asset, source)] / 1e4)

    def session(self, asset: str) -> Session:
        return Session(self._specs[asset].start_px, self._high[asset], self._low[asset])

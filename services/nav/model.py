"""Domain values the NAV service works with: account data, an operator-set NAV, valuation limits.

Frozen and free of I/O; the adapters (account, manual, loop) build them, the pure
valuation core (valuation.py) reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.contracts.manual_nav import ManualNav  # noqa: F401 - re-exported: the nav's domain value


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """One open USD-M position as the exchange reported it at poll time.

    `symbol` is the exchange id ("BTCUSDT"); `qty` is the absolute size (base units),
    `side` says the direction. `mark_price` / `upnl` are the exchange's at poll time.
    """

    symbol: str
    side: str
    qty: float
    entry_price: float
    mark_price: float | None
    upnl: float | None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The futures account at one successful poll; `ts` is when we read it (epoch s)."""

    ts: float
    wallet_balance: float
    margin_balance: float | None
    positions: tuple[AccountPosition, ...] = ()

    @property
    def markets(self) -> list[str]:
        return sorted({p.symbol for p in self.positions})


@dataclass(frozen=True, slots=True)
class AccountState:
    """What the poller knows: the last good snapshot (if any) and the last poll's error.

    `error` is None when the last poll succeeded; otherwise it says what failed and
    `last_good` is what we still have.
    """

    last_good: AccountSnapshot | None = None
    error: str | None = None
    polls: int = 0


def _frozen(mapping: Mapping[str, float | None]) -> Mapping[str, float | None]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Limits:
    """When data counts as stale.

    `price_stale_after_s` maps a price source (`mark`, `spot_cache`, `coingecko`,
    `avg_cost`, `config`) to the age past which a price is flagged; None means age is
    not a measure of that source's quality. `account_stale_after_s`: account data older
    than this is served as `cache` even if no poll has failed yet (a hung exchange).
    """

    price_stale_after_s: Mapping[str, float | None] = field(default_factory=lambda: _frozen({}))
    default_price_stale_after_s: float = 10.0
    account_stale_after_s: float = 15.0

    def stale_after(self, src: str) -> float | None:
        return self.price_stale_after_s.get(src, self.default_price_stale_after_s)


def limits_for(price_interval_s: float, account_interval_s: float, source_timeout_s: float,
               spot_cache_ttl_s: float, coingecko_ttl_s: float) -> Limits:
    """Staleness limits that follow from the configured intervals and source TTLs.

    A live price is stale after max(10 s, 5 price rounds). The pricer legitimately
    re-serves cached spot and CoinGecko prices for their TTL, so those are stale only
    beyond it. `avg_cost` is a file value: its age means nothing (it is flagged as a
    fallback instead). Account data is stale once two polls in a row failed to arrive.
    """
    base = max(10.0, 5 * price_interval_s)
    return Limits(
        price_stale_after_s=_frozen({
            "mark": base,
            "spot_cache": max(base, spot_cache_ttl_s + 2 * price_interval_s),
            "coingecko": max(base, coingecko_ttl_s + 2 * price_interval_s),
            "avg_cost": None,
            "config": None,
        }),
        default_price_stale_after_s=base,
        account_stale_after_s=2 * account_interval_s + source_timeout_s,
    )

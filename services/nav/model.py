"""Domain values the NAV service works with: account data, an operator-set NAV, valuation limits.

Frozen and free of I/O; the adapters (account, manual, loop) build them, the pure
valuation core (valuation.py) reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.contracts.manual_nav import ManualNav  # noqa: F401 - re-exported: the nav's domain value
from shared.contracts.vocabulary import FX_SOURCE, OPERATOR_TIERS, TIERS, USD_PAR_ASSET, AccountMode, PositionSide

DEFAULT_ACCOUNT = "main"


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """One open USD-M position as the exchange reported it at poll time.

    `symbol` is the exchange id ("BTCUSDT", "BTCUSDT_241227", "ETHBTC"); `qty` is the
    absolute size in contracts, `side` the direction (hedge mode: the leg). `entry_price`,
    `mark_price` and `upnl` are the exchange's at poll time, in the contract's quote units;
    `upnl` is settled in `margin_asset` (USDT for BTCUSDT, USDC for BTCUSDC, BTC for ETHBTC).
    """

    symbol: str
    side: PositionSide
    qty: float
    entry_price: float
    mark_price: float | None
    upnl: float | None
    margin_asset: str = USD_PAR_ASSET


@dataclass(frozen=True, slots=True)
class AssetBalance:
    """One row of the account's `assets[]`: a margin asset's wallet and uPnL, in that asset.

    `update_ms` is Binance's `updateTime` of the row (server clock, ms): every income record
    of this asset up to it is in `wallet`.
    """

    asset: str
    wallet: float
    upnl: float
    update_ms: int = 0


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The futures account at one successful poll; `ts` is when we read it (epoch s).

    `wallet_balance` / `margin_balance` are the exchange's `total*` figures (USDT only in
    single-asset mode, USD in multi-assets mode). `assets` are the per-asset rows the NAV is
    built from; an empty `assets` means one USDT wallet of `wallet_balance` (test doubles and
    older answers). `notes` are cross-check problems found while reading the answer.
    """

    ts: float
    wallet_balance: float
    margin_balance: float | None
    positions: tuple[AccountPosition, ...] = ()
    assets: tuple[AssetBalance, ...] = ()
    mode: AccountMode = "single_asset"
    hedge_mode: bool = False
    notes: tuple[str, ...] = ()

    @property
    def markets(self) -> list[str]:
        return sorted({p.symbol for p in self.positions})

    def asset_rows(self) -> tuple[AssetBalance, ...]:
        """The asset rows, or the one USDT row an answer without `assets[]` stands for."""
        if self.assets:
            return self.assets
        upnl = sum(p.upnl for p in self.positions if p.upnl is not None)
        return (AssetBalance(USD_PAR_ASSET, self.wallet_balance, upnl),)

    @property
    def margin_assets(self) -> list[str]:
        """Assets with a balance or uPnL, and the margin assets of open positions (what needs a price)."""
        held = {a.asset for a in self.assets if a.wallet != 0 or a.upnl != 0}
        return sorted(held | {p.margin_asset for p in self.positions})


@dataclass(frozen=True, slots=True)
class AccountState:
    """What one account's poller knows: the last good snapshot (if any) and the last poll's error.

    `error` is None when the last poll succeeded; otherwise it says what failed and
    `last_good` is what we still have. `residuals` is, per asset, how much of the wallet's
    movement since reconciliation began no income record explains (in that asset; services/nav/
    recon.py); `income_error` says why the income history could not be read this poll.
    """

    last_good: AccountSnapshot | None = None
    error: str | None = None
    polls: int = 0
    residuals: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    income_error: str | None = None


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
    recon_tolerance_usd: float = 1.0

    def stale_after(self, src: str) -> float | None:
        return self.price_stale_after_s.get(src, self.default_price_stale_after_s)


def limits_for(price_interval_s: float, account_interval_s: float, source_timeout_s: float,
               spot_cache_ttl_s: float, coingecko_ttl_s: float, *, recon_tolerance_usd: float = 1.0) -> Limits:
    """Staleness limits that follow from the configured intervals and source TTLs.

    A live price is stale after max(10 s, 5 price rounds). The pricer legitimately
    re-serves cached spot and CoinGecko prices for their TTL, so those are stale only
    beyond it. `avg_cost` is a file value: its age means nothing (it is flagged as a
    fallback instead). Account data is stale once two polls in a row failed to arrive.
    """
    base = max(10.0, 5 * price_interval_s)
    cache_ttl_s = {"spot_cache": spot_cache_ttl_s, "coingecko": coingecko_ttl_s}   # tiers re-served from a cache
    stale: dict[str, float | None] = {
        tier: None if tier in OPERATOR_TIERS else max(base, cache_ttl_s.get(tier, 0.0) + 2 * price_interval_s)
        for tier in TIERS}
    return Limits(
        price_stale_after_s=_frozen({**stale, FX_SOURCE: None}),
        default_price_stale_after_s=base,
        account_stale_after_s=2 * account_interval_s + source_timeout_s,
        recon_tolerance_usd=recon_tolerance_usd,
    )

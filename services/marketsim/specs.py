"""What marketsim simulates: assets, their futures/spot markets, CoinGecko ids and the starting account.

Static data only. Prices start here and random-walk from there (`prices.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

QUOTE = "USDT"


@dataclass(frozen=True, slots=True)
class Bracket:
    """One Binance leverage bracket: notional in [floor, cap) uses `maint_ratio` and allows `leverage`."""

    floor: float
    cap: float
    maint_ratio: float
    leverage: int
    cum: float


@dataclass(frozen=True, slots=True)
class FuturesSpec:
    """A USD-M perpetual: filters and precisions as Binance's exchangeInfo lists them."""

    price_precision: int
    quantity_precision: int
    tick_size: str
    step_size: str
    min_qty: str
    max_qty: str
    market_max_qty: str
    min_notional: str
    brackets: tuple[Bracket, ...]


@dataclass(frozen=True, slots=True)
class SpotSpec:
    tick_size: str
    step_size: str
    min_qty: str
    min_notional: str
    base_precision: int = 8
    quote_precision: int = 8


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """One simulated asset. `sigma` is the log-volatility per 0.2 s step; `revert` pulls it back to start."""

    asset: str
    start_px: float
    sigma: float
    revert: float = 0.0
    futures: FuturesSpec | None = None
    spot: SpotSpec | None = None
    coingecko_id: str | None = None

    @property
    def market(self) -> str:
        """The exchange id of its USDT market ("BTCUSDT"), futures and spot alike."""
        return f"{self.asset}{QUOTE}"


def _brackets(*rows: tuple[float, float, float, int]) -> tuple[Bracket, ...]:
    """Brackets from (floor, cap, maint_ratio, leverage) rows; `cum` (maintenance amount) as Binance derives it."""
    out: list[Bracket] = []
    cum = 0.0
    prev_ratio = 0.0
    for floor, cap, ratio, lev in rows:
        cum += floor * (ratio - prev_ratio)
        out.append(Bracket(floor, cap, ratio, lev, round(cum, 8)))
        prev_ratio = ratio
    return tuple(out)


_MAJOR_BRACKETS = _brackets((0, 50_000, 0.004, 125), (50_000, 600_000, 0.005, 100),
                            (600_000, 3_000_000, 0.0065, 75), (3_000_000, 12_000_000, 0.01, 50))
_MINOR_BRACKETS = _brackets((0, 5_000, 0.01, 75), (5_000, 50_000, 0.015, 50),
                            (50_000, 900_000, 0.02, 25), (900_000, 4_800_000, 0.05, 10))

ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec("BTC", 97_000.0, 1.0e-4, coingecko_id="bitcoin",
              futures=FuturesSpec(2, 3, "0.10", "0.001", "0.001", "1000", "120", "100", _MAJOR_BRACKETS),
              spot=SpotSpec("0.01", "0.00001", "0.00001", "5")),
    AssetSpec("ETH", 3_500.0, 1.3e-4, coingecko_id="ethereum",
              futures=FuturesSpec(2, 3, "0.01", "0.001", "0.001", "10000", "2000", "20", _MAJOR_BRACKETS),
              spot=SpotSpec("0.01", "0.0001", "0.0001", "5")),
    AssetSpec("SOL", 180.0, 1.6e-4, coingecko_id="solana",
              futures=FuturesSpec(4, 0, "0.0100", "1", "1", "1000000", "5000", "5", _MINOR_BRACKETS),
              spot=SpotSpec("0.01", "0.001", "0.001", "5")),
    AssetSpec("XAUT", 2_650.0, 5.0e-5, coingecko_id="tether-gold",
              futures=FuturesSpec(2, 3, "0.01", "0.001", "0.001", "10000", "500", "5", _MINOR_BRACKETS),
              spot=SpotSpec("0.01", "0.0001", "0.0001", "5")),
    AssetSpec("USDC", 1.0, 2.0e-5, revert=0.05, coingecko_id="usd-coin",
              futures=FuturesSpec(7, 0, "0.0000100", "1", "5", "5000000", "5000000", "5", _MINOR_BRACKETS),
              spot=SpotSpec("0.0001", "1", "1", "5")),
    AssetSpec("BNB", 650.0, 1.2e-4, coingecko_id="binancecoin"),
    AssetSpec("XRP", 2.3, 1.6e-4, coingecko_id="ripple"),
    AssetSpec("PAXG", 2_655.0, 5.0e-5, coingecko_id="pax-gold"),
    AssetSpec("USDT", 1.0, 1.5e-5, revert=0.05, coingecko_id="tether"),
    AssetSpec("DAI", 1.0, 2.0e-5, revert=0.05, coingecko_id="dai"),
    AssetSpec("FDUSD", 1.0, 2.0e-5, revert=0.05, coingecko_id="first-digital-usd"),
)

FX_ZAR = AssetSpec("ZAR", 18.2, 2.0e-5, revert=0.0005)
"""USD/ZAR, CoinGecko's `zar` quote currency (units of ZAR per USD)."""

BY_ASSET: dict[str, AssetSpec] = {a.asset: a for a in ASSETS}
FUTURES: tuple[AssetSpec, ...] = tuple(a for a in ASSETS if a.futures)
SPOT: tuple[AssetSpec, ...] = tuple(a for a in ASSETS if a.spot)
BY_COINGECKO_ID: dict[str, AssetSpec] = {a.coingecko_id: a for a in ASSETS if a.coingecko_id}
BY_MARKET: dict[str, AssetSpec] = {a.market: a for a in ASSETS if a.futures or a.spot}


@dataclass(frozen=True, slots=True)
class PositionSpec:
    market: str
    amount: float     # signed: > 0 long, < 0 short
    entry_price: float
    leverage: int = 10


@dataclass(frozen=True, slots=True)
class AccountSpec:
    wallet_usdt: float = 100_000.0
    positions: tuple[PositionSpec, ...] = field(default_factory=lambda: (
        PositionSpec("BTCUSDT", 0.5, 95_000.0),
        PositionSpec("ETHUSDT", -4.0, 3_600.0),
        PositionSpec("SOLUSDT", 100.0, 175.0),
    ))


def resolve_asset(raw: str) -> AssetSpec | None:
    """An asset from "BTC", "btc", "BTCUSDT", "BTC/USDT", "BTC/USDT:USDT" or a CoinGecko id ("bitcoin")."""
    text = raw.strip()
    if text in BY_COINGECKO_ID:
        return BY_COINGECKO_ID[text]
    text = text.upper().split(":", 1)[0].replace("/", "")
    if text in BY_ASSET:
        return BY_ASSET[text]
    if text in BY_MARKET:
        return BY_MARKET[text]
    return None

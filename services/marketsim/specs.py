"""What marketsim simulates: assets, their futures/spot markets, CoinGecko ids and the starting account.

Static data only. Prices start here and random-walk from there (`prices.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.contracts.vocabulary import USD_PAR_ASSET

QUOTE = USD_PAR_ASSET


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
    AssetSpec("PEPE", 0.00002, 2.5e-4, coingecko_id="pepe"),
    AssetSpec("SRM", 0.03, 1.0e-4),
)

FX_ZAR = AssetSpec("ZAR", 18.2, 2.0e-5, revert=0.0005)
"""USD/ZAR, CoinGecko's `zar` quote currency (units of ZAR per USD)."""

BY_ASSET: dict[str, AssetSpec] = {a.asset: a for a in ASSETS}
FUTURES: tuple[AssetSpec, ...] = tuple(a for a in ASSETS if a.futures)
SPOT: tuple[AssetSpec, ...] = tuple(a for a in ASSETS if a.spot)
BY_COINGECKO_ID: dict[str, AssetSpec] = {a.coingecko_id: a for a in ASSETS if a.coingecko_id}
BY_MARKET: dict[str, AssetSpec] = {a.market: a for a in ASSETS if a.futures or a.spot}


# --- USD-M contracts ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ContractSpec:
    """One USD-M contract as exchangeInfo lists it.

    `asset` is the underlying the simulated walk prices (PEPE for 1000PEPEUSDT); `base` is
    Binance's baseAsset ("1000PEPE"); one contract unit is `multiplier` units of `asset`.
    The mark is asset's USD mark × multiplier ÷ the quote asset's USD price (× a small basis
    for dated contracts). `status` SETTLING is a delisted contract (no longer trading).
    """

    symbol: str
    asset: str
    quote: str
    margin: str
    futures: FuturesSpec
    base: str = ""
    multiplier: float = 1.0
    contract_type: str = "PERPETUAL"   # or CURRENT_QUARTER
    status: str = "TRADING"
    dated_basis: float = 0.0           # premium of a dated contract over the perpetual, as a fraction

    @property
    def base_asset(self) -> str:
        return self.base or self.asset

    @property
    def pair(self) -> str:
        return self.symbol.split("_", 1)[0]


_QUARTER_MONTHS = (3, 6, 9, 12)


def quarter_delivery(now_s: float) -> datetime:
    """Binance's quarterly delivery: the last Friday of Mar/Jun/Sep/Dec at 08:00 UTC, the next one after now."""
    now = datetime.fromtimestamp(now_s, tz=timezone.utc)
    for year in (now.year, now.year + 1):
        for month in _QUARTER_MONTHS:
            last = datetime(year + (month == 12), month % 12 + 1, 1, 8, tzinfo=timezone.utc) - timedelta(days=1)
            friday = last - timedelta(days=(last.weekday() - 4) % 7)
            if friday > now:
                return friday
    raise AssertionError("unreachable: a quarter end lies within two years")


def dated_symbol(pair: str, delivery: datetime) -> str:
    """`BTCUSDT_261225`: the pair and the delivery date (yymmdd)."""
    return f"{pair}_{delivery:%y%m%d}"


_BTC_FUTURES = FuturesSpec(1, 3, "0.10", "0.001", "0.001", "1000", "120", "100", _MAJOR_BRACKETS)
_DATED_FUTURES = FuturesSpec(1, 3, "0.10", "0.001", "0.001", "500", "50", "5", _MAJOR_BRACKETS)
_ETHBTC_FUTURES = FuturesSpec(6, 3, "0.000001", "0.001", "0.001", "10000", "1000", "0.001", _MINOR_BRACKETS)
_PEPE_FUTURES = FuturesSpec(7, 0, "0.0000001", "1", "1", "800000000", "80000000", "5", _MINOR_BRACKETS)
_SRM_FUTURES = FuturesSpec(4, 0, "0.0010", "1", "1", "1000000", "100000", "5", _MINOR_BRACKETS)


def build_contracts(now_s: float) -> tuple[ContractSpec, ...]:
    """Every USD-M contract marketsim lists: a USDT perpetual per futures asset, plus a USDC-margined
    perpetual (BTCUSDC), a dated quarterly (BTCUSDT_<yymmdd>), a BTC-quoted and -margined perpetual
    (ETHBTC), a multiplier contract (1000PEPEUSDT) and a delisted one still listed as SETTLING (SRMUSDT)."""
    perpetuals = tuple(ContractSpec(a.market, a.asset, QUOTE, QUOTE, a.futures) for a in ASSETS if a.futures)
    delivery = quarter_delivery(now_s)
    return (*perpetuals,
            ContractSpec("BTCUSDC", "BTC", "USDC", "USDC", _BTC_FUTURES),
            ContractSpec(dated_symbol("BTCUSDT", delivery), "BTC", QUOTE, QUOTE, _DATED_FUTURES,
                         contract_type="CURRENT_QUARTER", dated_basis=0.004),
            ContractSpec("ETHBTC", "ETH", "BTC", "BTC", _ETHBTC_FUTURES),
            ContractSpec("1000PEPEUSDT", "PEPE", QUOTE, QUOTE, _PEPE_FUTURES, base="1000PEPE", multiplier=1000.0),
            ContractSpec("SRMUSDT", "SRM", QUOTE, QUOTE, _SRM_FUTURES, status="SETTLING"))


CONTRACTS: tuple[ContractSpec, ...] = build_contracts(time.time())
"""The listing of this process (the dated contract's symbol follows the calendar at start)."""
CONTRACT_BY_SYMBOL: dict[str, ContractSpec] = {c.symbol: c for c in CONTRACTS}
DATED = next(c for c in CONTRACTS if c.contract_type != "PERPETUAL")


def delivery_ms(contract: ContractSpec) -> int:
    if contract.contract_type == "PERPETUAL":
        return PERPETUAL_DELIVERY_MS
    return int(datetime.strptime(contract.symbol.rsplit("_", 1)[1], "%y%m%d").replace(
        hour=8, tzinfo=timezone.utc).timestamp() * 1000)


PERPETUAL_DELIVERY_MS = 4_133_404_800_000


# --- accounts ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PositionSpec:
    market: str
    amount: float     # signed: > 0 long, < 0 short (a hedge-mode SHORT leg is negative too)
    entry_price: float
    leverage: int = 10
    side: str = "BOTH"   # Binance positionSide: BOTH (one-way) or LONG / SHORT (hedge mode)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """A simulated futures account: its name, API key, margin mode, position mode, wallets, positions."""

    name: str = "main"
    api_key: str = "sim-key-main"
    multi_assets: bool = False          # Binance's default is single-asset mode
    hedge: bool = False                 # dualSidePosition; one-way (BOTH) by default
    wallets: tuple[tuple[str, float], ...] = (("USDT", 100_000.0), ("USDC", 5_000.0), ("BNFCR", 0.0))
    positions: tuple[PositionSpec, ...] = field(default_factory=lambda: (
        PositionSpec("BTCUSDT", 0.5, 95_000.0),
        PositionSpec("ETHUSDT", -4.0, 3_600.0),
        PositionSpec("SOLUSDT", 100.0, 175.0),
        PositionSpec("BTCUSDC", 0.1, 96_000.0),
    ))


def _sub1() -> AccountSpec:
    return AccountSpec(
        name="sub1", api_key="sim-key-sub1", multi_assets=True, hedge=True,
        wallets=(("USDT", 25_000.0), ("USDC", 15_000.0)),
        positions=(PositionSpec("ETHUSDT", 3.0, 3_400.0, side="LONG"),
                   PositionSpec("ETHUSDT", -1.5, 3_550.0, side="SHORT"),
                   PositionSpec(DATED.symbol, 0.05, 96_500.0, side="LONG")))


DEFAULT_ACCOUNTS: tuple[AccountSpec, ...] = (AccountSpec(), _sub1())
"""`main`: single-asset, one-way, USDT + USDC + BNFCR wallets, a USDC-margined BTCUSDC beside USDT
perpetuals. `sub1`: multi-assets mode, hedge mode with a LONG and a SHORT ETHUSDT leg and a LONG
dated BTC quarterly."""

def extra_accounts(n: int) -> tuple[AccountSpec, ...]:
    """`n` accounts like main, named acct02, acct03, ... (keys sim-key-acctNN), after main and sub1."""
    names = [f"acct{i:02d}" for i in range(2, n + 2)]
    return tuple(AccountSpec(name=name, api_key=f"sim-key-{name}") for name in names)


LEGACY_KEYS = {"sim-key": "main"}
"""API keys kept working for older configurations: `sim-key` is `main`."""


def resolve_asset(raw: str) -> AssetSpec | None:
    """An asset from "BTC", "btc", "BTCUSDT", "BTC/USDT", "BTC/USDT:USDT", a contract ("BTCUSDC",
    "1000PEPEUSDT", "BTCUSDT_261225": its underlying) or a CoinGecko id ("bitcoin")."""
    text = raw.strip()
    if text in BY_COINGECKO_ID:
        return BY_COINGECKO_ID[text]
    text = text.upper().split(":", 1)[0].replace("/", "")
    if text in BY_ASSET:
        return BY_ASSET[text]
    if text in BY_MARKET:
        return BY_MARKET[text]
    if text in CONTRACT_BY_SYMBOL:
        return BY_ASSET[CONTRACT_BY_SYMBOL[text].asset]
    return None

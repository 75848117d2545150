"""ccxt clients pointed at the configured base URLs (marketsim in sim, Binance otherwise).

The real ccxt adapters talk to marketsim exactly as they talk to Binance; only the
scheme and host of each API root differ. Keys are attached only to the account
client; the price clients are public.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from shared.ccxt_lite import ccxt
from pydantic import SecretStr

from shared.settings import Mode, Settings

Keys = tuple[SecretStr, SecretStr]

_FUTURES_ROOTS = ("fapi",)
_SPOT_ROOTS = ("public", "private", "v1", "sapi")


def _rebase(urls: dict[str, str], roots: tuple[str, ...], base: str) -> dict[str, str]:
    """Replace scheme://host of every API root whose name starts with one of `roots`."""
    out = dict(urls)
    for name, url in urls.items():
        if isinstance(url, str) and name.startswith(roots):
            path = urlsplit(url).path
            out[name] = f"{base}{path}"
    return out


def _common(settings: Settings, timeout_s: float) -> dict:
    return {
        "timeout": int(timeout_s * 1000),
        "enableRateLimit": False,  # each source paces itself with its own interval and backoff
        "options": {"disableFuturesSandboxWarning": True, "fetchCurrencies": False},
    }


def make_usdm(settings: Settings, *, timeout_s: float, with_keys: bool = False,
              keys: Keys | None = None) -> ccxt.binanceusdm:
    """A `binanceusdm` client for mark prices (public) or an account (`with_keys`).

    `keys` are the account's (services/nav/accounts.py resolves them, including marketsim's
    `sim-key-<account>` convention); without them, BINANCE_API_KEY / BINANCE_API_SECRET.
    """
    config = _common(settings, timeout_s)
    if with_keys and keys is None and settings.binance_api_key and settings.binance_api_secret:
        keys = (settings.binance_api_key, settings.binance_api_secret)
    if with_keys and keys is not None:
        config["apiKey"], config["secret"] = keys[0].get_secret_value(), keys[1].get_secret_value()
    elif with_keys and settings.mode is Mode.SIM:
        # marketsim selects its simulated account by key; ccxt refuses to sign without one.
        config["apiKey"], config["secret"] = "sim-key-main", "sim-secret-main"
    exchange = ccxt.binanceusdm(config)
    exchange.urls["api"] = _rebase(exchange.urls["api"], _FUTURES_ROOTS, settings.futures_base_url)
    return exchange


def make_spot(settings: Settings, *, timeout_s: float) -> ccxt.binance:
    """A public `binance` spot client for tickers."""
    exchange = ccxt.binance(_common(settings, timeout_s))
    # By default ccxt's binance also loads USD-M and COIN-M markets from fapi/dapi hosts;
    # the spot client needs spot markets only, and must not leave the configured base URL.
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    exchange.options["fetchMargins"] = False
    exchange.urls["api"] = _rebase(exchange.urls["api"], _SPOT_ROOTS, settings.spot_base_url)
    return exchange

"""The shared typed settings object, read from the environment once at start.

The common settings (MODE, Redis, logging, state folders, metrics) and those of the pricer, nav
and dashboard are fields here; services receive a `Settings`. It is not the only reader of the
environment: the ledger (`LedgerSettings`, services/ledger/config.py), the publisher
(`PublisherSettings`, services/publisher/config.py) and marketsim (`MarketsimConfig`,
services/marketsim/config.py) read their own knobs the same way; services/nav/accounts.py reads
the key variables ACCOUNTS_FILE names from `os.environ`; and `navstream-healthcheck`
(services/healthcheck.py) reads REDIS_URL and KEY_PREFIX itself, standard library only.
Secrets are `SecretStr`: they print as `**********` in repr, logs and `navstream status`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from shared.contracts.vocabulary import DEFAULT_STABLECOINS
from shared.errors import ConfigError
from shared.keys import Keys
from shared.redis_url import secrets_dir, url_with_password


class Mode(str, Enum):
    SIM = "sim"
    TESTNET = "testnet"
    LIVE = "live"


# Base URLs per mode. In sim mode they point at marketsim on loopback.
_REAL_URLS = {
    Mode.TESTNET: ("https://testnet.binancefuture.com", "https://testnet.binance.vision", "https://api.coingecko.com"),
    Mode.LIVE: ("https://fapi.binance.com", "https://api.binance.com", "https://api.coingecko.com"),
}


COINGECKO_PRO_URL = "https://pro-api.coingecko.com"
COINGECKO_DEMO_TTL_S = 300.0   # 30 days × 86,400 s / 10,000 calls ≈ 259 s a call on the free Demo plan
COINGECKO_SIM_TTL_S = 30.0     # marketsim has no quota


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False,
                                      secrets_dir=secrets_dir())

    # --- the core settings (README "Settings" lists every variable) -------------------------
    mode: Mode = Mode.SIM
    redis_url: str | None = None
    state_dir: Path = Path("logs/state")
    dashboard_state_dir: Path = Path("logs/dashboard_state")
    holdings_file: Path = Path("config/offexchange_holdings.json")
    binance_api_key: SecretStr | None = None
    binance_api_secret: SecretStr | None = None
    binance_futures_url: str | None = None
    binance_spot_url: str | None = None
    coingecko_url: str | None = None
    price_interval_s: float = Field(1.0, gt=0)
    account_interval_s: float = Field(5.0, gt=0)
    display_currency: str = "ZAR"
    dash_host: str = "127.0.0.1"
    dash_port: int = Field(8050, ge=1, le=65535)
    marketsim_port: int = Field(8765, ge=1, le=65535)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    log_max_bytes: int = Field(10_000_000, ge=10_000)   # `navstream up` rotates logs/<service>.log at this size
    log_backups: int = Field(5, ge=0, le=100)
    redis_password: SecretStr | None = None   # added to REDIS_URL (percent-encoded); compose passes it as a secret

    # --- navstream's own ----------------------------------------------------------
    key_prefix: str = "hedge"
    coingecko_ids_file: Path = Path("config/coingecko_ids.json")
    stream_maxlen: int = Field(10_000, ge=100)
    # hedge:nav entries are whole snapshots (~150 KB at 1,000 holdings), so they get a much smaller cap
    nav_stream_maxlen: int = Field(2_000, ge=100)
    source_timeout_s: float = Field(2.0, gt=0)
    mark_max_age_s: float = Field(30.0, gt=0)
    spot_cache_ttl_s: float = Field(60.0, gt=0)
    # None: 300 s (the free Demo plan's 10,000 calls a month is one call per ~260 s), 30 s in sim mode
    coingecko_ttl_s: float = Field(None, gt=0, validate_default=True)
    coingecko_api_key: SecretStr | None = None
    coingecko_plan: Literal["demo", "pro"] = "demo"
    divergence_threshold: float = Field(0.02, gt=0)
    depeg_threshold: float = Field(0.005, gt=0)
    stablecoins: frozenset[str] = DEFAULT_STABLECOINS
    coingecko_update_lag_s: float = Field(120.0, ge=0)   # CoinGecko refreshes slowly: accept this much beyond its TTL
    fx_fallback_rates: dict[str, float] = {"ZAR": 18.0}
    manual_nav: float | None = None
    # --- exchange accounts (services/nav/accounts.py; README "Exchange accounts") ---
    accounts_file: Path = Path("config/accounts.json")
    recon_tolerance_usd: float = Field(1.0, ge=0)
    marketsim_host: str = "127.0.0.1"   # where clients reach marketsim (compose: "marketsim"); its own knobs
                                        # (MARKETSIM_SEED, _BIND, _FILL_INTERVAL_S) are services/marketsim/config.py's
    dash_debug: bool = False
    dash_plotly_js: Path | None = None   # None: the partial bundle `make` installs (services/dashboard/plotlyjs.py)
    metrics_port_base: int = Field(9100, ge=0, le=65000)   # 0 = no /metrics endpoints
    metrics_host: str = "127.0.0.1"   # where /metrics listens (compose: "0.0.0.0", so Prometheus can scrape)

    @field_validator("redis_url", "redis_password", "binance_api_key", "binance_api_secret", "binance_futures_url",
                     "binance_spot_url", "coingecko_url", "manual_nav", "coingecko_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # compose passes unset variables through as "", which means "not set" here.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("coingecko_ttl_s", mode="before")
    @classmethod
    def _coingecko_ttl(cls, v: object, info: ValidationInfo) -> object:
        if v is None or (isinstance(v, str) and not v.strip()):
            return COINGECKO_SIM_TTL_S if info.data.get("mode") is Mode.SIM else COINGECKO_DEMO_TTL_S
        return v

    @field_validator("display_currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.strip().upper()

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{v!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is not None:
            check_redis_url(v)
        return v

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # SecretStr fields already print as '**********'; the Redis URL may carry a password too.
        for name, value in super().__repr_args__():
            yield name, (redact_url(value) if name == "redis_url" and value else value)

    @property
    def keys(self) -> Keys:
        return Keys(self.key_prefix)

    def _default_urls(self) -> tuple[str, str, str]:
        if self.mode is Mode.SIM:
            base = f"http://{self.marketsim_host}:{self.marketsim_port}"
            return base, base, base
        return _REAL_URLS[self.mode]

    @property
    def futures_base_url(self) -> str:
        return (self.binance_futures_url or self._default_urls()[0]).rstrip("/")

    @property
    def spot_base_url(self) -> str:
        return (self.binance_spot_url or self._default_urls()[1]).rstrip("/")

    @property
    def coingecko_base_url(self) -> str:
        """COINGECKO_URL, else marketsim in sim mode, else CoinGecko's public or (COINGECKO_PLAN=pro) Pro API."""
        if self.coingecko_url:
            return self.coingecko_url.rstrip("/")
        if self.mode is not Mode.SIM and self.coingecko_plan == "pro":
            return COINGECKO_PRO_URL
        return self._default_urls()[2].rstrip("/")

    def coingecko_key(self) -> str | None:
        """COINGECKO_API_KEY's value (sent only in CoinGecko's key header; redacted everywhere else)."""
        return self.coingecko_api_key.get_secret_value() if self.coingecko_api_key else None

    @property
    def effective_redis_url(self) -> str:
        """REDIS_URL (with REDIS_PASSWORD put in); unset, redis://127.0.0.1:6379/0.

        The services use this; `navstream up` always sets REDIS_URL for them (its embedded Redis when
        unset). The `navstream` CLI does not fall back to the default (services/cli.py `_redis_url`).
        """
        return self.redis_url_for(self.redis_url or "redis://127.0.0.1:6379/0")

    def redis_url_for(self, url: str) -> str:
        """`url` with REDIS_PASSWORD put in when it has no password of its own."""
        password = self.redis_password.get_secret_value() if self.redis_password else None
        return url_with_password(url, password)

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for the log redaction filter."""
        out = []
        for secret in (self.binance_api_key, self.binance_api_secret, self.coingecko_api_key, self.redis_password):
            if secret is not None and secret.get_secret_value():
                out.append(secret.get_secret_value())
        out.extend(redis_url_secrets(self.effective_redis_url))
        return out

    def redacted_redis_url(self) -> str:
        return redact_url(self.effective_redis_url)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_SCHEMES = ("redis", "rediss", "unix")
_PASSWORD_PARAM = re.compile(r"(?i)(^|&)(password=)[^&]*")


def check_redis_url(url: str) -> SplitResult:
    """`url` split, or ValueError saying what is wrong with it (never echoing the URL: it may hold a password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not one of "
                         f"{', '.join(s + '://' for s in REDIS_SCHEMES)}")
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs a socket path")
        return parts
    if not parts.hostname:
        raise ValueError("no host (expected redis://[:password@]host[:port][/db]; "
                         "a password with / # @ or : must be URL-encoded)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked for it
    except ValueError:
        raise ValueError("the port is not a number between 0 and 65535") from None
    db = parts.path.lstrip("/")
    if db and not db.isdigit():
        raise ValueError(f"database {db!r} is not a number")
    return parts


def redis_url_secrets(url: str) -> list[str]:
    """The password in `url` (userinfo or `?password=`), as written and URL-decoded."""
    parts = urlsplit(url)
    found = [parts.password or ""] + parse_qs(parts.query).get("password", [])
    if parts.username and parts.password is None:   # redis://secret@host: a lone userinfo is a password
        found.append(parts.username)
    out: list[str] = []
    for value in found:
        out += [v for v in {value, unquote(value)} if v]
    return out


def redact_url(url: str) -> str:
    """`url` (Redis or database) with its userinfo and any `password=` parameter replaced by ***;
    otherwise exactly as given (`sqlite:///var/x.sqlite3` keeps its three slashes)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc and not _PASSWORD_PARAM.search(parts.query):
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = _PASSWORD_PARAM.sub(r"\1\2***", parts.query)
    # by hand, not geturl(): that drops the // of an empty host (unix:///path, sqlite:///file)
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


S = TypeVar("S", bound=BaseSettings)


_UNPARSED_FIELD = re.compile(r'field "([^"]+)"')


def _message(err: Any) -> str:
    """pydantic's message, without the "Value error, " it puts before our validators' own."""
    if err["type"] == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])
    return str(err["msg"])


def load_env_settings(cls: type[S], prefix: str = "") -> S:
    """Parse `cls` from the environment; a bad value is a one-line ConfigError naming the variable."""
    try:
        return cls()
    except ValidationError as exc:
        problems = dict.fromkeys(   # one line per problem, in order, each once
            (f"{prefix}{str(err['loc'][0]).upper()}: " if err["loc"] else "") + _message(err)
            for err in exc.errors())
        raise ConfigError(f"invalid settings in the environment: {'; '.join(problems)}") from None
    except SettingsError as exc:    # a list or mapping value that is not JSON
        found = _UNPARSED_FIELD.search(str(exc))
        name = f"{prefix}{found.group(1).upper()}" if found else "a list or mapping setting"
        raise ConfigError(f"invalid settings in the environment: {name}: not valid JSON "
                          '(a list is written ["USDC", "USDT"], a mapping {"ZAR": 18.0})') from None


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The shared settings, parsed once per process."""
    return load_env_settings(Settings)

"""One typed settings object, read from the environment once at start.

Every knob navstream has is a field here; services receive a `Settings` and never
read `os.environ` themselves. Secrets are `SecretStr`: they print as `**********`
in repr, logs and `navstream status`.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError
from shared.keys import Keys


class Mode(str, Enum):
    SIM = "sim"
    TESTNET = "testnet"
    LIVE = "live"


# Base URLs per mode. In sim mode they point at marketsim on loopback.
_REAL_URLS = {
    Mode.TESTNET: ("https://testnet.binancefuture.com", "https://testnet.binance.vision", "https://api.coingecko.com"),
    Mode.LIVE: ("https://fapi.binance.com", "https://api.binance.com", "https://api.coingecko.com"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    # --- what the contract (DESIGN.md) names -----------------------------------
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

    # --- navstream's own ----------------------------------------------------------
    key_prefix: str = "hedge"
    coingecko_ids_file: Path = Path("config/coingecko_ids.json")
    stream_maxlen: int = Field(10_000, ge=100)
    # hedge:nav entries are whole snapshots (~150 KB at 1,000 holdings), so they get a much smaller cap
    nav_stream_maxlen: int = Field(2_000, ge=100)
    source_timeout_s: float = Field(2.0, gt=0)
    mark_max_age_s: float = Field(30.0, gt=0)
    spot_cache_ttl_s: float = Field(60.0, gt=0)
    coingecko_ttl_s: float = Field(30.0, gt=0)
    divergence_threshold: float = Field(0.02, gt=0)
    depeg_threshold: float = Field(0.005, gt=0)
    stablecoins: frozenset[str] = frozenset({"USDC", "USDT", "DAI", "FDUSD", "TUSD", "USDP", "PYUSD", "BUSD", "USDE"})
    coingecko_update_lag_s: float = Field(120.0, ge=0)   # CoinGecko refreshes slowly: accept this much beyond its TTL
    fx_fallback_rates: dict[str, float] = {"ZAR": 18.0}
    manual_nav: float | None = None
    marketsim_seed: int = 7
    marketsim_host: str = "127.0.0.1"   # where clients reach marketsim (compose: "marketsim")
    marketsim_bind: str = "127.0.0.1"   # where marketsim listens (compose: "0.0.0.0")
    dash_debug: bool = False
    metrics_port_base: int = Field(9100, ge=0, le=65000)   # 0 = no /metrics endpoints
    metrics_host: str = "127.0.0.1"   # where /metrics listens (compose: "0.0.0.0", so Prometheus can scrape)

    @field_validator("redis_url", "binance_api_key", "binance_api_secret", "binance_futures_url",
                     "binance_spot_url", "coingecko_url", "manual_nav", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        # compose passes unset variables through as "", which means "not set" here.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("display_currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.strip().upper()

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
        return (self.coingecko_url or self._default_urls()[2]).rstrip("/")

    @property
    def effective_redis_url(self) -> str:
        """REDIS_URL, or the embedded Redis `navstream up` starts."""
        return self.redis_url or "redis://127.0.0.1:6379/0"

    def secret_values(self) -> list[str]:
        """Every secret's plain value, for the log redaction filter."""
        out = []
        for secret in (self.binance_api_key, self.binance_api_secret):
            if secret is not None and secret.get_secret_value():
                out.append(secret.get_secret_value())
        if self.redis_url and "@" in self.redis_url:
            userinfo = self.redis_url.split("://", 1)[-1].split("@", 1)[0]
            password = userinfo.split(":", 1)[-1]
            if password:
                out.append(password)
        return out

    def redacted_redis_url(self) -> str:
        url = self.effective_redis_url
        if "@" not in url:
            return url
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"


S = TypeVar("S", bound=BaseSettings)


def load_env_settings(cls: type[S], prefix: str = "") -> S:
    """Parse `cls` from the environment; a bad value is a ConfigError naming the variable."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            (f"{prefix}{str(err['loc'][0]).upper()}: " if err["loc"] else "") + err["msg"]
            for err in exc.errors())
        raise ConfigError(f"invalid settings in the environment: {problems}") from None


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The shared settings, parsed once per process."""
    return load_env_settings(Settings)

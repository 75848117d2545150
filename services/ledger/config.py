"""The ledger's settings: where the record lives, the fund it is for, units and strike gates.

The fund-wide names (DATABASE_URL, FUND_ID, UNIT_INCEPTION_PRICE, STRIKE_TIME_UTC, STRIKE_MAX_MOVE,
STRIKE_MAX_FALLBACK_SHARE, STRIKE_MAX_PRICE_AGE_S) are read without a prefix; the ledger's own
knobs carry `LEDGER_`. README "Settings" lists them all.
"""

from __future__ import annotations

from datetime import time as dtime
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import load_env_settings, redact_url

DEFAULT_DATABASE_URL = "sqlite:///var/navstream.sqlite3"


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False,
                                      populate_by_name=True)

    database_url: str = Field(DEFAULT_DATABASE_URL, min_length=1, validation_alias=_env("DATABASE_URL"))
    fund_id: str = Field("main", min_length=1, max_length=64, validation_alias=_env("FUND_ID"))
    unit_inception_price: float = Field(1.0, gt=0, validation_alias=_env("UNIT_INCEPTION_PRICE"))
    strike_time_utc: str = Field("00:00", validation_alias=_env("STRIKE_TIME_UTC"))
    strike_max_move: float = Field(0.10, gt=0, validation_alias=_env("STRIKE_MAX_MOVE"))
    strike_max_fallback_share: float = Field(0.05, ge=0, le=1, validation_alias=_env("STRIKE_MAX_FALLBACK_SHARE"))
    # A price feeding the strike older than this holds it (the pricer's own limit for marks is 30 s).
    strike_max_price_age_s: float = Field(300.0, gt=0, validation_alias=_env("STRIKE_MAX_PRICE_AGE_S"))

    # --- the ledger's own -----------------------------------------------------------
    consumer: str = Field("ledger", min_length=1, validation_alias=_env("LEDGER_CONSUMER"))
    batch_size: int = Field(500, ge=1, validation_alias=_env("LEDGER_BATCH_SIZE"))
    claim_idle_ms: int = Field(10_000, ge=0, validation_alias=_env("LEDGER_CLAIM_IDLE_MS"))
    history_interval_s: float = Field(60.0, gt=0, validation_alias=_env("LEDGER_HISTORY_INTERVAL_S"))
    # A strike every N seconds instead of once a day (soak tests and demos); 0 = daily at STRIKE_TIME_UTC.
    strike_every_s: float = Field(0.0, ge=0, validation_alias=_env("LEDGER_STRIKE_EVERY_S"))
    inception_investor: str = Field("inception", min_length=1, validation_alias=_env("LEDGER_INCEPTION_INVESTOR"))
    # Two TRANSFER records of opposite amounts in different accounts within this window are internal.
    transfer_match_s: float = Field(600.0, ge=0, validation_alias=_env("LEDGER_TRANSFER_MATCH_S"))
    # A change of an off-exchange holding matches a transfer or an operator flow (within LEDGER_TRANSFER_MATCH_S)
    # whose USD amount is within this fraction of its own: network fees and the price moving in between.
    holding_match_tolerance: float = Field(0.02, ge=0, lt=1, validation_alias=_env("LEDGER_HOLDING_MATCH_TOLERANCE"))
    # Test-only: after a batch is committed to the database, wait this long before the XACKs.
    test_pause_before_ack_s: float = Field(0.0, ge=0, validation_alias=_env("LEDGER_TEST_PAUSE_BEFORE_ACK_S"))

    @field_validator("strike_time_utc")
    @classmethod
    def _hh_mm(cls, v: str) -> str:
        parse_strike_time(v)
        return v.strip()

    @property
    def strike_time(self) -> dtime:
        return parse_strike_time(self.strike_time_utc)

    def redacted_database_url(self) -> str:
        return redact_url(self.database_url)

    def secret_values(self) -> list[str]:
        """The database password, for redaction ([] when the URL has none)."""
        password = urlsplit(self.database_url).password
        return [unquote(password), password] if password else []


def parse_strike_time(raw: str) -> dtime:
    """`HH:MM` (UTC) as a time; ValueError naming the value otherwise."""
    try:
        hh, mm = raw.strip().split(":")
        return dtime(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"{raw!r} is not a time HH:MM (UTC)") from None


def load_ledger_settings() -> LedgerSettings:
    """Parse the ledger's environment; a bad value is a ConfigError naming the variable."""
    return load_env_settings(LedgerSettings)

"""marketsim's own knobs (env `MARKETSIM_*`), beside the shared Settings it also reads."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import load_env_settings


class MarketsimConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MARKETSIM_", frozen=True, extra="ignore", case_sensitive=False)

    fill_interval_s: float = Field(2.0, ge=0)   # 0 turns the fills generator off
    seed: int = 7                               # MARKETSIM_SEED: the price walks and fills
    bind: str = "127.0.0.1"                     # MARKETSIM_BIND: where it listens (compose: "0.0.0.0")
    # Binance funds perpetuals every 8 h; the simulator compresses time so a demo shows FUNDING_FEE income.
    funding_interval_s: float = Field(60.0, ge=0)   # 0 turns funding off
    # MARKETSIM_EXTRA_ACCOUNTS: more accounts beside main and sub1 (`acct02`, `acct03`, ...,
    # like main, keys `sim-key-acctNN`), for the many-accounts benchmark
    extra_accounts: int = Field(0, ge=0, le=200)


def load_config() -> MarketsimConfig:
    return load_env_settings(MarketsimConfig, "MARKETSIM_")

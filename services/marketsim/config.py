"""marketsim's own knobs (env `MARKETSIM_*`), beside the shared Settings it also reads."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError


class MarketsimConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MARKETSIM_", frozen=True, extra="ignore", case_sensitive=False)

    fill_interval_s: float = Field(2.0, ge=0)   # 0 turns the fills generator off


def load_config() -> MarketsimConfig:
    try:
        return MarketsimConfig()
    except ValidationError as exc:
        problems = "; ".join(f"MARKETSIM_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid marketsim settings in the environment: {problems}") from None

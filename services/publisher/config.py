"""The publisher's own settings (env prefix `PUBLISHER_`): KPI thresholds, windows, stream bounds.

The shared `Settings` hold what every service reads (STATE_DIR, DASHBOARD_STATE_DIR,
REDIS_URL, ...); these are the knobs only the publisher has.
"""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import load_env_settings

from services.publisher.kpis.atr import AtrThresholds
from services.publisher.kpis.drawdown import DrawdownThresholds
from services.publisher.kpis.router import RouterThresholds
from services.publisher.publication import KpiConfig


class PublisherSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUBLISHER_", frozen=True, extra="ignore",
                                      case_sensitive=False)

    consumer: str = Field("publisher", min_length=1)
    batch_size: int = Field(1000, ge=1)
    claim_idle_ms: int = Field(10_000, ge=0)

    dd_warning: float = Field(0.05, gt=0, lt=1)
    dd_critical: float = Field(0.10, gt=0, le=1)

    atr_period: int = Field(14, ge=1)
    atr_pct_normal: float = Field(0.0005, gt=0)
    atr_pct_high: float = Field(0.0015, gt=0)
    atr_pct_extreme: float = Field(0.004, gt=0)
    bars_maxlen: int = Field(500, ge=2)

    fills_window_s: float = Field(86_400.0, gt=0)
    fills_max: int = Field(50_000, ge=1)
    router_good_maker: float = Field(0.6, ge=0, le=1)
    router_good_fallback: float = Field(0.2, ge=0, le=1)
    router_fair_maker: float = Field(0.4, ge=0, le=1)
    router_fair_fallback: float = Field(0.4, ge=0, le=1)

    history_maxlen: int = Field(43_200, ge=60)

    # Test-only: after a batch's files are written, wait this long before the Redis commit and the acks.
    test_pause_before_ack_s: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> PublisherSettings:
        if not self.dd_warning < self.dd_critical:
            raise ValueError("dd_warning must be below dd_critical")
        if not self.atr_pct_normal < self.atr_pct_high < self.atr_pct_extreme:
            raise ValueError("atr_pct_normal < atr_pct_high < atr_pct_extreme must hold")
        if (self.router_fair_maker > self.router_good_maker
                or self.router_fair_fallback < self.router_good_fallback):
            raise ValueError("the 'fair' router thresholds must be looser than the 'good' ones")
        if self.bars_maxlen <= self.atr_period:
            raise ValueError("bars_maxlen must exceed atr_period")
        return self

    def kpi_config(self) -> KpiConfig:
        return KpiConfig(
            drawdown=DrawdownThresholds(self.dd_warning, self.dd_critical),
            atr=AtrThresholds(self.atr_pct_normal, self.atr_pct_high, self.atr_pct_extreme),
            atr_period=self.atr_period,
            router=RouterThresholds(self.router_good_maker, self.router_good_fallback,
                                    self.router_fair_maker, self.router_fair_fallback),
            window_s=self.fills_window_s,
        )


def load_publisher_settings() -> PublisherSettings:
    """Parse the PUBLISHER_* environment; a bad value is a ConfigError naming the variable."""
    return load_env_settings(PublisherSettings, "PUBLISHER_")

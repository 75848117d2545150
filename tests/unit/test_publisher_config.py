"""PUBLISHER_* settings: defaults, environment, and errors that name the variable."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from shared.errors import ConfigError
from services.publisher.config import PublisherSettings, load_publisher_settings


def test_defaults_are_the_documented_thresholds(monkeypatch):
    for var in [v for v in os.environ if v.startswith("PUBLISHER_")]:
        monkeypatch.delenv(var)
    cfg = load_publisher_settings().kpi_config()
    assert (cfg.drawdown.warning, cfg.drawdown.critical) == (0.05, 0.10)
    assert (cfg.atr.normal, cfg.atr.high, cfg.atr.extreme, cfg.atr_period) == (0.0005, 0.0015, 0.004, 14)
    assert (cfg.router.good_maker, cfg.router.good_fallback, cfg.router.fair_maker,
            cfg.router.fair_fallback) == (0.6, 0.2, 0.4, 0.4)
    assert cfg.window_s == 86_400.0


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("PUBLISHER_DD_WARNING", "0.02")
    monkeypatch.setenv("PUBLISHER_FILLS_WINDOW_S", "3600")
    cfg = load_publisher_settings()
    assert cfg.dd_warning == 0.02 and cfg.kpi_config().window_s == 3600.0


@pytest.mark.parametrize("env, needle", [
    ({"PUBLISHER_DD_WARNING": "abc"}, "PUBLISHER_DD_WARNING"),
    ({"PUBLISHER_DD_WARNING": "0.2", "PUBLISHER_DD_CRITICAL": "0.1"}, "dd_warning must be below dd_critical"),
    ({"PUBLISHER_ATR_PCT_HIGH": "0.01"}, "atr_pct_normal < atr_pct_high < atr_pct_extreme"),
    ({"PUBLISHER_ROUTER_FAIR_MAKER": "0.7"}, "looser"),
    ({"PUBLISHER_BATCH_SIZE": "0"}, "PUBLISHER_BATCH_SIZE"),
])
def test_bad_values_are_config_errors_naming_the_problem(monkeypatch, env, needle):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match=needle):
        load_publisher_settings()


def test_settings_are_frozen():
    cfg = PublisherSettings()
    with pytest.raises(ValidationError, match="frozen"):
        cfg.dd_warning = 0.5


def test_the_service_refuses_to_start_on_a_bad_setting(monkeypatch, capsys):
    from services.publisher.__main__ import main

    monkeypatch.setenv("PUBLISHER_DD_CRITICAL", "1.5")
    assert main() == 2
    assert "PUBLISHER_DD_CRITICAL" in capsys.readouterr().err

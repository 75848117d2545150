"""Settings: every bad value is one line naming the variable; the Redis password never prints."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from services.harness import ROOT
from shared.errors import ConfigError
from shared.logs import RedactingFilter
from shared.settings import Settings, load_settings, redact_url

PASSWORD = "hunter2-very-secret"


@pytest.fixture(autouse=True)
def fresh_settings():
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


@pytest.mark.parametrize(("name", "value", "says"), [
    ("LOG_LEVEL", "LOUD", "'LOUD' is not a log level"),
    ("REDIS_URL", "http://127.0.0.1:6379", "scheme 'http' is not one of redis://"),
    ("REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:port/0", "the port is not a number"),
    ("REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:6379/zero", "database 'zero' is not a number"),
    ("STABLECOINS", "USDC,USDT", "not valid JSON"),
    ("FX_FALLBACK_RATES", "ZAR=18", "not valid JSON"),
    ("STABLECOINS", "[1, 2]", "Input should be a valid string"),
    ("DASH_PORT", "0", "greater than or equal to 1"),
    ("MODE", "paper", "'sim', 'testnet' or 'live'"),
])
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, name, value, says):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert f"{name}: " in message and says in message
    assert "\n" not in message and message.count(says) == 1
    assert PASSWORD not in message


def test_a_service_with_a_bad_value_says_one_line_and_exits_2():
    env = {"PATH": "/usr/bin:/bin", "STABLECOINS": "USDC,USDT", "METRICS_PORT_BASE": "0"}
    proc = subprocess.run([sys.executable, "-m", "services.nav"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nav: invalid settings") and "STABLECOINS" in lines[0]


@pytest.mark.parametrize("url", [
    f"redis://:{PASSWORD}@redis:6379/0",
    f"rediss://navstream:{PASSWORD}@redis:6380/1",
    f"redis://redis:6379/0?password={PASSWORD}",
])
def test_repr_and_the_redacted_url_hide_the_redis_password(url):
    s = Settings(redis_url=url, binance_api_key="KEY-abcdef123")
    for shown in (repr(s), str(s), s.redacted_redis_url()):
        assert PASSWORD not in shown and "KEY-abcdef123" not in shown
    assert "***" in s.redacted_redis_url() and "redis" in s.redacted_redis_url()
    assert PASSWORD in s.secret_values()


def test_a_url_encoded_password_is_hidden_in_both_forms():
    s = Settings(redis_url="redis://:p%40ss%2Fw0rd@redis:6379/0")
    assert {"p%40ss%2Fw0rd", "p@ss/w0rd"} <= set(s.secret_values())
    assert redact_url(s.redis_url) == "redis://***@redis:6379/0"
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "auth failed for %s and %s",
                               ("p@ss/w0rd", s.redis_url), None)
    RedactingFilter(s.secret_values()).filter(record)
    assert "p@ss/w0rd" not in record.getMessage() and "p%40ss%2Fw0rd" not in record.getMessage()


@pytest.mark.parametrize(("url", "shown"), [
    ("sqlite:///var/navstream.sqlite3", "sqlite:///var/navstream.sqlite3"),          # relative: three slashes
    ("sqlite:////app/var/navstream.sqlite3", "sqlite:////app/var/navstream.sqlite3"),  # absolute: four
    ("postgresql+psycopg://fund:s3cr%2Ft@pg:5432/record", "postgresql+psycopg://***@pg:5432/record"),
    ("postgresql+psycopg://pg/record?password=s3cret&sslmode=require",
     "postgresql+psycopg://pg/record?password=***&sslmode=require"),
    ("unix:///run/redis.sock?password=s3cret", "unix:///run/redis.sock?password=***"),
])
def test_redact_url_hides_passwords_and_changes_nothing_else(url, shown):
    assert redact_url(url) == shown

"""The `navstream` command as an operator meets it: help, --version, exit codes, one-line errors."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import build_parser
from shared.heartbeat import Heartbeat
from shared.keys import SERVICES, Keys
from tests.support import RedisServer, free_port

KEYS = Keys("hedge")
PASSWORD = "se/cret#pass"


def navstream(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("REDIS_", "BINANCE_", "LOG_", "MODE", "NAVSTREAM_", "SECRETS_DIR"))}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env={**base, **env}, timeout=60)


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    assert "Traceback" not in text
    return lines[0]


def beat_all(server: RedisServer, services=SERVICES, status: str = "ok") -> None:
    client = server.client()
    for name in services:
        hb = Heartbeat(client, KEYS, name, 1.0)
        hb.status = status
        hb.beat(force=True)
    client.close()


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def test_version(tmp_path):
    result = navstream("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "navstream 0.1.0"


def test_every_subcommand_has_a_description_and_every_argument_help():
    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        assert parser.description, f"`{path}` has no description"
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
                assert action.help, f"`{path}` argument {action.dest} has no help"
        for name, sub in _subparsers(parser):
            walk(sub, f"{path} {name}")

    parser = build_parser()
    walk(parser, "navstream")
    top = parser.format_help()
    assert "exit codes:" in top and "3  Redis unreachable" in top and "REDIS_URL" in top
    assert {"up", "status", "config", "sim", "nav", "bench"} <= dict(_subparsers(parser)).keys()


def test_usage_error_is_exit_2(tmp_path):
    result = navstream("frobnicate", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice: 'frobnicate'" in result.stderr


def test_bad_setting_is_one_line_naming_it_and_exit_2(tmp_path):
    result = navstream("config", cwd=tmp_path, LOG_FORMAT="xml")
    assert result.returncode == 2
    assert "LOG_FORMAT" in one_line(result.stderr)


def test_no_silent_default_redis_outside_an_up_folder(tmp_path):
    for args in (["status"], ["nav", "set", "1000"]):
        result = navstream(*args, cwd=tmp_path)
        assert result.returncode == 2, result
        line = one_line(result.stderr)
        assert "REDIS_URL" in line and "navstream up" in line
        assert result.stdout == ""


def test_unreachable_redis_is_exit_3(tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["status"], ["nav", "clear"]):
        result = navstream(*args, cwd=tmp_path, REDIS_URL=url)
        assert result.returncode == 3, result
        assert "cannot reach Redis" in one_line(result.stderr)
    as_json = navstream("status", "--json", cwd=tmp_path, REDIS_URL=url)
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["healthy"] is False


@pytest.fixture
def server(password_redis):
    return password_redis


def test_status_exit_codes_and_json(server, tmp_path):
    env = {"REDIS_URL": f"redis://127.0.0.1:{server.port}/0", "REDIS_PASSWORD": PASSWORD}
    missing = navstream("status", "--json", cwd=tmp_path, **env)
    assert missing.returncode == 1
    doc = json.loads(missing.stdout)
    assert doc["healthy"] is False and {s["status"] for s in doc["services"]} == {"no heartbeat"}
    beat_all(server)
    ok = navstream("status", "--json", cwd=tmp_path, **env)
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["healthy"] is True and [s["service"] for s in doc["services"]] == list(SERVICES)
    assert {s["stream"] for s in doc["streams"]} == {"hedge:prices", "hedge:nav", "hedge:fills", "hedge:income"}
    beat_all(server, ["nav"], status="degraded")
    assert navstream("status", cwd=tmp_path, **env).returncode == 0
    strict = navstream("status", "--strict", cwd=tmp_path, **env)
    assert strict.returncode == 1 and "degraded" in strict.stdout
    assert PASSWORD not in ok.stdout + strict.stdout


def test_commands_find_the_redis_of_navstream_up_in_this_folder(server, tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "redis.url").write_text(f"redis://127.0.0.1:{server.port}/0\n")
    result = navstream("nav", "set", "125000.5", "--note", "keys pending", cwd=tmp_path, REDIS_PASSWORD=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert "manual NAV set to 125,000.50 USD" in result.stdout
    assert json.loads(server.client().get(KEYS.nav_manual))["nav_total"] == 125000.5


def test_config_prints_effective_settings_with_secrets_redacted(tmp_path):
    env = {"REDIS_URL": "redis://ops:url%2Fpass@db.internal:6390/2", "REDIS_PASSWORD": "env-password-123",
           "BINANCE_API_KEY": "binance-key-abcdef", "BINANCE_API_SECRET": "binance-secret-ghijkl", "MODE": "live"}
    text = navstream("config", cwd=tmp_path, **env)
    assert text.returncode == 0, text.stderr
    lines = dict(line.split("=", 1) for line in text.stdout.splitlines())
    assert lines["MODE"] == "live" and lines["BINANCE_API_KEY"] == "***" and lines["REDIS_PASSWORD"] == "***"
    assert lines["REDIS_URL"] == "redis://***@db.internal:6390/2"
    assert lines["(futures base url)"] == "https://fapi.binance.com"
    doc = json.loads(navstream("config", "--json", cwd=tmp_path, **env).stdout)
    assert doc["BINANCE_API_SECRET"] == "***" and doc["PRICE_INTERVAL_S"] == 1.0
    for secret in ("url%2Fpass", "url/pass", "env-password-123", "binance-key-abcdef", "binance-secret-ghijkl"):
        assert secret not in text.stdout and secret not in json.dumps(doc)


def test_secrets_come_from_the_secrets_folder(tmp_path):
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "binance_api_key").write_text("from-a-file-123")
    doc = json.loads(navstream("config", "--json", cwd=tmp_path, SECRETS_DIR=str(folder)).stdout)
    assert doc["BINANCE_API_KEY"] == "***" and doc["(secrets dir)"] == str(folder)


def test_config_prints_the_ledger_settings_with_the_database_password_redacted(tmp_path):
    env = {"DATABASE_URL": "postgresql+psycopg://fund:db%2Fpass-789@pg.internal:5433/record",
           "LEDGER_STRIKE_EVERY_S": "300", "STRIKE_TIME_UTC": "06:30"}
    text = navstream("config", cwd=tmp_path, **env)
    assert text.returncode == 0, text.stderr
    lines = dict(line.split("=", 1) for line in text.stdout.splitlines())
    assert lines["DATABASE_URL"] == "postgresql+psycopg://***@pg.internal:5433/record"
    assert lines["LEDGER_STRIKE_EVERY_S"] == "300.0" and lines["STRIKE_TIME_UTC"] == "06:30"
    assert lines["FUND_ID"] == "main" and lines["LEDGER_BATCH_SIZE"] == "500"
    assert "db%2Fpass-789" not in text.stdout and "db/pass-789" not in text.stdout
    bad = navstream("config", cwd=tmp_path, STRIKE_TIME_UTC="25:99")
    assert bad.returncode != 0 and "STRIKE_TIME_UTC" in bad.stderr and "Traceback" not in bad.stderr, bad.stderr

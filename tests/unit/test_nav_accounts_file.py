"""ACCOUNTS_FILE: environment variable names only, every problem one line naming file, account and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.nav.accounts import load_accounts, parse_accounts
from shared.errors import ConfigError
from shared.settings import Mode, Settings

PATH = Path("config/accounts.json")
DEMO = Path(__file__).resolve().parents[2] / "config" / "accounts.json"


def parse(doc: str, mode: Mode = Mode.LIVE, **env: str):
    return parse_accounts(doc, PATH, mode, env)


def test_the_demo_file_names_two_accounts_by_their_variables():
    (main, sub1) = parse_accounts(DEMO.read_bytes(), DEMO, Mode.LIVE,
                                  {"BINANCE_API_KEY": "k1", "BINANCE_API_SECRET": "s1"})
    assert (main.name, main.api_key_env, main.api_secret_env) == ("main", "BINANCE_API_KEY", "BINANCE_API_SECRET")
    assert main.keys is not None and main.keys[0].get_secret_value() == "k1" and "k1" not in repr(main)
    assert (sub1.name, sub1.api_key_env, sub1.keys) == ("sub1", "BINANCE_SUB1_API_KEY", None)
    assert "BINANCE_SUB1_API_KEY" in sub1.missing_keys_reason(Mode.LIVE)


def test_sim_keys_follow_marketsims_convention_and_an_empty_variable_means_no_key():
    (main, sub1) = parse_accounts(DEMO.read_bytes(), DEMO, Mode.SIM, {"BINANCE_SUB1_API_KEY": ""})
    assert [k.get_secret_value() for k in main.keys] == ["sim-key-main", "sim-secret-main"]
    assert sub1.keys is None and sub1.blank
    assert "set to the empty string" in sub1.missing_keys_reason(Mode.SIM)


def test_keys_come_from_secret_files_when_the_variable_is_not_set(tmp_path, monkeypatch):
    # compose mounts secrets at /run/secrets; `make secrets` writes empty key files for the demo
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    (tmp_path / "binance_api_key").write_text("")
    (tmp_path / "binance_api_secret").write_text("")
    (tmp_path / "binance_sub1_api_key").write_text("sub-key\n")
    (tmp_path / "binance_sub1_api_secret").write_text("sub-secret\n")
    (main, sub1) = parse_accounts(DEMO.read_bytes(), DEMO, Mode.SIM, {})
    assert [k.get_secret_value() for k in main.keys] == ["sim-key-main", "sim-secret-main"], "empty file: unset"
    assert [k.get_secret_value() for k in sub1.keys] == ["sub-key", "sub-secret"]
    (_, sub1) = parse_accounts(DEMO.read_bytes(), DEMO, Mode.LIVE, {"BINANCE_SUB1_API_KEY": ""})
    assert sub1.keys is None and sub1.blank, "a variable set (even empty) wins over the file"


def test_without_the_file_there_is_one_account_main(tmp_path):
    (only,) = load_accounts(Settings(mode="sim", accounts_file=tmp_path / "none.json"), environ={})
    assert only.name == "main" and only.keys[0].get_secret_value() == "sim-key-main"


@pytest.mark.parametrize("doc, words", [
    ('{"main": {"api_key": "AKIAxxxx", "api_key_env": "K", "api_secret_env": "S"}}',
     "main.api_key looks like a key written into the file"),
    ('{"main": {"api_key_env": "xq7Lr9aPzKey0123456789", "api_secret_env": "S"}}',
     "main.api_key_env is not the NAME of an environment variable"),
    ('{"main": {"api_key_env": "K", "api_secret_env": "S", "exchange": "kraken"}}', "main.exchange is 'kraken'"),
    ('{"main": {"api_key_env": "K", "api_secret_env": "S", "colour": 1}}', "main.colour is not a known field"),
    ('{"main": "BINANCE_API_KEY"}', "main must be an object"),
    ('{"a b": {"api_key_env": "K", "api_secret_env": "S"}}', "account name 'a b'"),
    ('{}', "names no account"),
    ('[1]', "must be a JSON object"),
    ('{"main": ', "not valid JSON"),
])
def test_a_bad_file_is_one_line_naming_file_account_and_field(doc, words):
    with pytest.raises(ConfigError, match=words) as info:
        parse(doc)
    assert str(PATH) in str(info.value) and "\n" not in str(info.value)
    assert "AKIAxxxx" not in str(info.value) and "xq7Lr9aPzKey" not in str(info.value)

"""The fund's futures accounts: ACCOUNTS_FILE (default config/accounts.json) -> AccountConfig per account.

    {"main": {"exchange": "binanceusdm", "api_key_env": "BINANCE_API_KEY",
              "api_secret_env": "BINANCE_API_SECRET"},
     "sub1": {"exchange": "binanceusdm", "api_key_env": "BINANCE_SUB1_API_KEY",
              "api_secret_env": "BINANCE_SUB1_API_SECRET"}}

The file names environment variables, never a key: a field that looks like a key itself is
refused. Without the file there is one account, `main`, from BINANCE_API_KEY / BINANCE_API_SECRET.
This module is the one place the nav service reads those variables (the names come from a file,
so they cannot be fields of Settings).

A variable that is not in the environment is also looked for as a secret file
(SECRETS_DIR, default /run/secrets: `binance_sub1_api_key` for BINANCE_SUB1_API_KEY), as compose
mounts them; an empty secret file counts as unset.

Keys: a variable that is unset means "no key" in testnet/live; in MODE=sim it means marketsim's
convention `sim-key-<account>` / `sim-secret-<account>`. A variable set to the empty string means
"no key" in every mode: that account is reported (partial), never silently left out.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from shared.contracts._fields import json_object
from shared.errors import ConfigError
from shared.redis_url import secret_file
from shared.settings import Mode, Settings

from services.nav.model import DEFAULT_ACCOUNT

EXCHANGES = ("binanceusdm",)
FIELDS = ("exchange", "api_key_env", "api_secret_env")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_KEYLIKE = ("api_key", "apikey", "secret", "api_secret", "key", "password", "token")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One futures account: its name, the variables its keys come from, and the keys (if any)."""

    name: str
    exchange: str = "binanceusdm"
    api_key_env: str = "BINANCE_API_KEY"
    api_secret_env: str = "BINANCE_API_SECRET"
    keys: tuple[SecretStr, SecretStr] | None = None
    blank: bool = False   # a key variable is set to the empty string: "no key" on purpose

    @classmethod
    def default(cls, settings: Settings) -> AccountConfig:
        """`main` from the settings' BINANCE_API_KEY / BINANCE_API_SECRET (no accounts file)."""
        keys = None
        if settings.binance_api_key and settings.binance_api_secret:
            keys = (settings.binance_api_key, settings.binance_api_secret)
        elif settings.mode is Mode.SIM:
            keys = sim_keys(DEFAULT_ACCOUNT)
        return cls(DEFAULT_ACCOUNT, keys=keys)

    @property
    def keys_hint(self) -> str:
        return f"{self.api_key_env} / {self.api_secret_env}"

    def secret_values(self) -> list[str]:
        return [k.get_secret_value() for k in self.keys or () if k.get_secret_value()]

    def missing_keys_reason(self, mode: Mode) -> str:
        how = "is set to the empty string" if self.blank else "is not set"
        return (f"MODE={mode.value} needs {self.api_key_env} and {self.api_secret_env} for account "
                f"{self.name!r} (read-only keys suffice); {self.keys_hint} {how}")


def sim_keys(account: str) -> tuple[SecretStr, SecretStr]:
    """marketsim's convention: the simulated account is selected by its key."""
    return SecretStr(f"sim-key-{account}"), SecretStr(f"sim-secret-{account}")


def resolve_keys(name: str, key_env: str, secret_env: str, mode: Mode,
                 environ: Mapping[str, str]) -> tuple[tuple[SecretStr, SecretStr] | None, bool]:
    """(keys or None, blank) for one account from the environment, by the rules in the module doc."""
    key, secret = _lookup(key_env, environ), _lookup(secret_env, environ)
    if key is not None and secret is not None and key.strip() and secret.strip():
        return (SecretStr(key.strip()), SecretStr(secret.strip())), False
    blank = (key is not None and not key.strip()) or (secret is not None and not secret.strip())
    if not blank and key is None and secret is None and mode is Mode.SIM:
        return sim_keys(name), False
    return None, blank


def _lookup(name: str, environ: Mapping[str, str]) -> str | None:
    """Variable `name` as set (even empty), else its secret file (compose: /run/secrets/<name lower>;
    an empty file, as `make secrets` writes, counts as unset)."""
    return environ[name] if name in environ else secret_file(name)


def _env_name(path: Path, name: str, entry: Mapping[str, object], field: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not _ENV_NAME.match(value):
        # The value is not repeated: if it is not a variable name, it may well be the key itself.
        raise ConfigError(f"accounts file {path}: {name}.{field} is not the NAME of an environment variable "
                          "(A-Z, 0-9, _); the file must never hold a key")
    return value


def _check_entry(path: Path, name: str, entry: object) -> Mapping[str, object]:
    if not _NAME.match(name):
        raise ConfigError(f"accounts file {path}: account name {name!r:.40} must be 1-40 letters, digits, _ . -")
    if not isinstance(entry, Mapping):
        raise ConfigError(f"accounts file {path}: {name} must be an object "
                          f"{{exchange, api_key_env, api_secret_env}}, not {type(entry).__name__}")
    unknown = sorted(set(entry) - set(FIELDS))
    keylike = [k for k in unknown if k.lower() in _KEYLIKE]
    if keylike:
        raise ConfigError(f"accounts file {path}: {name}.{keylike[0]} looks like a key written into the file; "
                          "the file holds only the names of environment variables (api_key_env, api_secret_env)")
    if unknown:
        raise ConfigError(f"accounts file {path}: {name}.{unknown[0]} is not a known field ({', '.join(FIELDS)})")
    exchange = entry.get("exchange", "binanceusdm")
    if exchange not in EXCHANGES:
        raise ConfigError(f"accounts file {path}: {name}.exchange is {exchange!r}; supported: {', '.join(EXCHANGES)}")
    return entry


def parse_accounts(raw: bytes | str, path: Path, mode: Mode,
                   environ: Mapping[str, str]) -> tuple[AccountConfig, ...]:
    """Every account of the file, keys resolved; a bad file raises ConfigError naming file, account, field."""
    doc = json_object(raw, f"accounts file {path}", ConfigError,
                      what="a JSON object of account name -> {exchange, api_key_env, api_secret_env}")
    if not doc:
        raise ConfigError(f"accounts file {path}: names no account")
    out = []
    for name in sorted(doc):
        entry = _check_entry(path, name, doc[name])
        key_env = _env_name(path, name, entry, "api_key_env")
        secret_env = _env_name(path, name, entry, "api_secret_env")
        keys, blank = resolve_keys(name, key_env, secret_env, mode, environ)
        out.append(AccountConfig(name, str(entry.get("exchange", "binanceusdm")), key_env, secret_env, keys, blank))
    return tuple(out)


def load_accounts(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[AccountConfig, ...]:
    """The configured accounts: ACCOUNTS_FILE if it exists, else `main` from the settings."""
    path = settings.accounts_file
    if not path.exists():
        return (AccountConfig.default(settings),)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"accounts file {path}: cannot be read ({exc.strerror})") from None
    return parse_accounts(raw, path, settings.mode, os.environ if environ is None else environ)

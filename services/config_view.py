"""`navstream config`: the shared and the ledger's settings as the services would read them, secrets redacted."""

from __future__ import annotations

import json
from typing import Any

from pydantic import AliasChoices

from shared.logs import REDACTED
from shared.redis_url import secrets_dir
from shared.settings import Settings, redact_url

from services.ledger.config import LedgerSettings, load_ledger_settings


def effective_settings(settings: Settings, ledger: LedgerSettings) -> dict[str, Any]:
    """The shared settings by their environment variable names, what each mode derives from them, and the ledger's.

    A secret is "***" when set and null when not; a password inside REDIS_URL is "***" too.
    """
    out: dict[str, Any] = {}
    for name, value in settings.model_dump(mode="json").items():
        field_is_secret = name in ("binance_api_key", "binance_api_secret", "redis_password")
        if field_is_secret:
            value = REDACTED if value else None
        elif isinstance(value, list):
            value = sorted(value)
        out[name.upper()] = value
    out["REDIS_URL"] = redact_url(settings.redis_url) if settings.redis_url else None
    out["(secrets dir)"] = secrets_dir()
    out["(effective redis)"] = settings.redacted_redis_url() if settings.redis_url else None
    out["(futures base url)"] = settings.futures_base_url
    out["(spot base url)"] = settings.spot_base_url
    out["(coingecko base url)"] = settings.coingecko_base_url
    out.update(ledger_settings(ledger))
    return out


def ledger_settings(cfg: LedgerSettings) -> dict[str, Any]:
    """The ledger's settings by the environment variable each is read from (DATABASE_URL redacted)."""
    out: dict[str, Any] = {}
    for name, value in cfg.model_dump(mode="json").items():
        alias = LedgerSettings.model_fields[name].validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else name
        out[str(env).upper()] = redact_url(value) if name == "database_url" else value
    return out


def render_settings(settings: Settings, *, as_json: bool = False) -> str:
    ledger = load_ledger_settings()
    doc = effective_settings(settings, ledger)
    if as_json:
        text = json.dumps(doc, indent=2, sort_keys=False)
    else:
        text = "\n".join(f"{k}={'' if v is None else (json.dumps(v) if isinstance(v, dict | list) else v)}"
                         for k, v in doc.items())
    # belt and braces: no secret value survives anywhere in the output, whatever a field was called
    for secret in sorted(set(settings.secret_values() + ledger.secret_values()), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text

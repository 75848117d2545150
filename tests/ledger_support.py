"""Helpers for the ledger tests: nav.v7 snapshots with a chosen AUM, income entries, the record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import redis

from shared.contracts.income import IncomeRecord, encode_income
from shared.contracts.nav import encode_nav_entry, validate_nav_document
from shared.keys import Keys

from tests.support import ROOT

KEYS = Keys("hedge")


def snapshot(seq: int, ts: float, nav_total: float, *, usdc: float = 2000.0, usdc_source: str = "mark",
             source: str = "live", degraded: bool = False, reasons: list[str] | None = None,
             price_age_s: float = 0.5) -> dict[str, Any]:
    """A nav.v7 snapshot: futures NAV plus one USDC holding at 1.0 (aum = nav_total + usdc)."""
    doc = {
        "schema": "nav.v7", "seq": seq, "ts": ts, "nav_total": nav_total, "nav_age_s": 0.5, "source": source,
        "positions": [{"symbol": "BTCUSDT", "side": "LONG", "qty": 0.5, "entry_price": 95000.0,
                       "mark_price": 97000.0, "upnl": 1000.0, "notional": 48500.0}],
        "aum": {"futures": nav_total,
                "offexchange": {"USDC": {"qty": usdc, "avg_cost": 1.0, "mark": 1.0, "usd_value": usdc,
                                         "source": usdc_source, "price_age_s": price_age_s}},
                "total": nav_total + usdc},
        "fx": {"USDZAR": 18.2},
        "status": {"degraded": degraded, "reasons": reasons or []},
    }
    if source == "partial":     # nav.v7 plus the nav-accounts source; the contract check is for nav.v7 only
        return doc
    return validate_nav_document(doc)


def xadd_snapshot(r: redis.Redis, doc: dict[str, Any]) -> bytes:
    return r.xadd(KEYS.nav, encode_nav_entry(doc))


def transfer(account: str, tran_id: str, amount: float, ts: float, asset: str = "USDT") -> IncomeRecord:
    return IncomeRecord(account=account, tran_id=tran_id, type="TRANSFER", asset=asset, amount=amount,
                        symbol="", ts=ts)


def xadd_income(r: redis.Redis, rec: IncomeRecord) -> bytes:
    return r.xadd(KEYS.income, encode_income(rec))


def navstream(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the `navstream` command (python -m services.cli) with `env`; never raises on exit code."""
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=60)

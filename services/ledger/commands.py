"""What `navstream db|flow|strike|ledger` do (the parser is services/ledger/cli.py).

Every command works on DATABASE_URL directly (the ledger service need not run); those that
need the current valuation (pricing a flow, forcing a strike) read the newest hedge:nav entries.
Refusals raise NavstreamError: one line on stderr and exit 1, nothing written.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shared.contracts.nav import decode_nav_entry
from shared.errors import ConfigError, ContractError, NavstreamError
from shared.redis_io import RedisUnavailable

from services.ledger import record, store
from services.ledger.config import LedgerSettings, load_ledger_settings
from services.ledger.db import DatabaseUnavailable, open_database, upgrade
from services.ledger.schema import flows, nav_history, strikes
from services.ledger.strike import LOCKED, due_label, parse_label
from services.ledger.strikes import (
    StrikeRefused,
    approve_strike,
    propose_due_strikes,
    propose_strike,
    reasons_of,
    verify,
)
from services.ledger.units import FlowRefused, parse_amount

RECENT_ENTRIES = 300


class CliError(NavstreamError):
    """A ledger command could not run; the message says why (exit 1)."""


# --- plumbing ----------------------------------------------------------------------------------

@contextmanager
def _database() -> Iterator[tuple[LedgerSettings, Engine]]:
    cfg = load_ledger_settings()
    engine = open_database(cfg.database_url)
    try:
        upgrade(engine)
        yield cfg, engine
    except DatabaseUnavailable as exc:
        raise CliError(f"database {cfg.redacted_database_url()} is unavailable: "
                       f"{str(exc).splitlines()[0][:200]}") from None
    finally:
        engine.dispose()


def _recent_snapshots() -> list[dict[str, Any]]:
    """The newest hedge:nav snapshots, oldest first ([] when Redis is unreachable)."""
    from services.cli import _redis
    from shared.settings import load_settings

    settings = load_settings()
    try:
        entries = _redis(settings).xrevrange(settings.keys.nav, "+", "-", count=RECENT_ENTRIES)
    except (*RedisUnavailable, ConfigError):   # unreachable, or no Redis known: strike inputs without them
        return []
    docs = []
    for _eid, fields in reversed(entries):
        try:
            docs.append(decode_nav_entry(fields))
        except ContractError:
            continue
    return docs


def _valued(docs: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(v.ts, v.aum_total) for v in map(record.valuation_of, docs) if v is not None]


def parse_time(raw: str | None, now: float) -> float:
    """--at: ISO 8601 (UTC unless it says otherwise) or epoch seconds; now when absent."""
    if raw is None:
        return now
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        d = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise FlowRefused(f"--at {raw!r} is not a time (ISO 8601 like 2026-12-02T07:30:00Z, or epoch seconds)") \
            from None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def _iso(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- db ------------------------------------------------------------------------------------------

def _cmd_db(args: argparse.Namespace) -> int:
    cfg = load_ledger_settings()
    engine = open_database(cfg.database_url)
    try:
        revision = upgrade(engine)
    except DatabaseUnavailable as exc:
        raise CliError(f"database {cfg.redacted_database_url()} is unavailable: {str(exc).splitlines()[0]}") \
            from None
    finally:
        engine.dispose()
    print(f"database {cfg.redacted_database_url()} is at schema revision {revision} (newest)")
    return 0


# --- flows ---------------------------------------------------------------------------------------

def _cmd_flow(args: argparse.Namespace) -> int:
    return {"subscribe": _flow_record, "redeem": _flow_record, "list": _flow_list,
            "classify": _flow_classify}[args.flow_cmd](args)


def _flow_record(args: argparse.Namespace) -> int:
    amount = parse_amount(args.amount)
    now = time.time()
    at = parse_time(args.at, now)
    recent = _valued(_recent_snapshots())
    with _database() as (cfg, engine), engine.begin() as conn:
        investor = args.investor or cfg.inception_investor
        row = record.record_operator_flow(conn, cfg, amount_usd=amount if args.flow_cmd == "subscribe" else -amount,
                                          investor=investor, at=at, note=args.note or "", recent=recent, now=now)
    verb = "issued" if row["units"] > 0 else "cancelled"
    print(f"{row['kind']} of {amount:,.2f} USD for {investor!r} at {_iso(at)}: {abs(row['units'])} units {verb} "
          f"at unit price {row['unit_price']:.9f}")
    return 0


def _flow_list(args: argparse.Namespace) -> int:
    with _database() as (cfg, engine), engine.connect() as conn:
        rows = store.list_flows(conn, cfg.fund_id)
        investors = store.units_by_investor(conn, cfg.fund_id)
        total = store.units_outstanding(conn, cfg.fund_id)
    print(f"{'id':>5}  {'time (UTC)':<19}  {'kind':<12} {'class':<12} {'amount USD':>16} {'units':>22} "
          f"{'unit price':>12}  investor / note")
    for f in rows:
        amount = "?" if f["amount_usd"] is None else f"{f['amount_usd']:,.2f}"
        price = "-" if f["unit_price"] is None else f"{f['unit_price']:.6f}"
        print(f"{f['id']:>5}  {_iso(f['ts']):<19}  {f['kind']:<12} {f['classification']:<12} {amount:>16} "
              f"{f['units']:>22} {price:>12}  {f['investor']}{' / ' + f['note'] if f['note'] else ''}")
    print(f"units outstanding {total}; by investor: " +
          ", ".join(f"{k} {v}" for k, v in investors.items()))
    return 0


def _flow_classify(args: argparse.Namespace) -> int:
    with _database() as (cfg, engine), engine.begin() as conn:
        flow = record.classify_flow(conn, cfg, args.id, args.classification, investor=args.investor,
                                    note=args.note or "")
    print(f"flow {flow['id']} is {flow['classification']}: {flow['units']} units for {flow['investor']!r}")
    return 0


# --- strikes -------------------------------------------------------------------------------------

def _cmd_strike(args: argparse.Namespace) -> int:
    return {"list": _strike_list, "approve": _strike_approve, "run": _strike_run}[args.strike_cmd](args)


def _strike_list(args: argparse.Namespace) -> int:
    with _database() as (cfg, engine), engine.connect() as conn:
        rows = store.list_strikes(conn, cfg.fund_id)
    if not rows:
        print("no strikes yet")
    for s in rows:
        late = " late" if s["late"] else ""
        print(f"{s['strike_date']}  {s['state']:<6}{late}  unit price {s['unit_price']:.9f}  aum {s['aum_total']:,.2f}"
              f"  units {s['units']}  hash {(s['hash'] or '-')[:16]}")
        for reason in reasons_of(s):
            print(f"    held: {reason}")
        if s["note"]:
            print(f"    note ({s['approved_by']}): {s['note']}")
    return 0


def _strike_approve(args: argparse.Namespace) -> int:
    label = _label(args.date)
    with _database() as (cfg, engine), engine.begin() as conn:
        row = approve_strike(conn, cfg, label, args.note, by=args.by or getpass.getuser())
    print(f"strike {label} locked by {row['approved_by']}: hash {row['hash']}")
    return 0


def _label(raw: str) -> str:
    try:
        return parse_label(raw)
    except ValueError as exc:
        raise StrikeRefused(str(exc)) from None


def _strike_run(args: argparse.Namespace) -> int:
    """Strike now from the newest usable snapshot: DATE, or every strike due and not made yet (days
    missed while down included), or else today's again (a held strike gets new inputs)."""
    docs = [d for d in _recent_snapshots() if record.valuation_of(d) is not None]
    if not docs:
        raise StrikeRefused("no usable snapshot on hedge:nav to strike from (is `navstream up` running?)")
    now = time.time()
    with _database() as (cfg, engine), engine.begin() as conn:
        rows = [] if args.date else propose_due_strikes(conn, cfg, docs, now, limit=10_000)
        if not rows:
            label = _label(args.date) if args.date else due_label(now, cfg.strike_time, cfg.strike_every_s)
            rows = [propose_strike(conn, cfg, label, docs[-1], now)]
    for row in rows:
        late = " (late)" if row["late"] else ""
        hashed = f", hash {row['hash']}" if row["hash"] else ""
        print(f"strike {row['strike_date']}: {row['state']}{late}, unit price {row['unit_price']:.9f}, "
              f"aum {row['aum_total']:,.2f}{hashed}")
        for reason in orjson.loads(row["reasons"]):
            print(f"    held: {reason}")
    return 0 if all(row["state"] == LOCKED for row in rows) else 1


# --- ledger --------------------------------------------------------------------------------------

def _cmd_ledger(args: argparse.Namespace) -> int:
    return {"verify": _ledger_verify, "export": _ledger_export}[args.ledger_cmd](args)


def _ledger_verify(args: argparse.Namespace) -> int:
    with _database() as (cfg, engine), engine.connect() as conn:
        checked, problem = verify(conn, cfg)
    if problem:
        print(f"ledger verify: FAILED after {checked} good strike(s): {problem}")
        return 1
    print(f"ledger verify: ok, {checked} locked strike(s) checked, hash chain and NAV recomputation match")
    return 0


def _ledger_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with _database() as (cfg, engine), engine.connect() as conn:
        written = [_export_table(conn, out / "nav_history.csv", nav_history, cfg.fund_id, nav_history.c.ts),
                   _export_table(conn, out / "flows.csv", flows, cfg.fund_id, flows.c.ts),
                   _export_table(conn, out / "strikes.csv", strikes, cfg.fund_id, strikes.c.strike_date)]
    for path, n in written:
        print(f"{path}: {n} rows")
    return 0


def _export_table(conn: Connection, path: Path, table: sa.Table, fund_id: str, order) -> tuple[Path, int]:
    rows = conn.execute(sa.select(table).where(table.c.fund_id == fund_id).order_by(order)).mappings()
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([c.name for c in table.columns])
        for row in rows:
            writer.writerow([row[c.name] for c in table.columns])
            n += 1
    return path, n

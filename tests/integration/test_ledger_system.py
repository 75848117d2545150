"""The fund's record on the running system (`navstream up`: marketsim, pricer, nav, publisher, ledger,
dashboard): unit price 1.0 at inception, a subscription and a redemption that do not move the unit
price, exact units per investor, flow-neutral drawdown and TWR; strikes locked, held, approved and
verified; an edited locked strike found by `navstream ledger verify`."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from services.ledger.performance import max_drawdown
from services.ledger.schema import flows, nav_history, strikes

from tests.ledger_support import navstream
from tests.support import NavstreamUp, eventually


def running_system(redis_server, tmp_path: Path, **env):
    """`navstream up` with its record in tmp_path/record.sqlite3 (`.engine` reads it)."""
    up = NavstreamUp(redis_server.url, tmp_path, PRICE_INTERVAL_S=0.5, ACCOUNT_INTERVAL_S=1,
                     DATABASE_URL=f"sqlite:///{tmp_path / 'record.sqlite3'}", LEDGER_HISTORY_INTERVAL_S=1,
                     **env).start()
    up.engine = sa.create_engine(up.env["DATABASE_URL"])
    yield up
    up.stop()
    up.engine.dispose()


@pytest.fixture
def system(redis_server, tmp_path: Path):
    yield from running_system(redis_server, tmp_path, STRIKE_TIME_UTC="00:00")


def rows(system) -> list[dict]:
    with system.engine.connect() as conn:
        q = sa.select(nav_history).where(nav_history.c.kind == "minute").order_by(nav_history.c.ts)
        return [dict(r) for r in conn.execute(q).mappings()]


def snapshots(r, count: int = 50) -> list[dict]:
    return [orjson.loads(f[b"snapshot"]) for _, f in reversed(r.xrevrange("hedge:nav", count=count))]


def move_usdc(system, r, delta_qty: float) -> tuple[float, float]:
    """Change the off-exchange USDC holding (the money arrives or leaves); returns (time of the first
    snapshot holding it, its USD amount at that snapshot's USDC price)."""
    path = system.workdir / "holdings.json"
    holdings = json.loads(path.read_text())
    new_qty = holdings["USDC"]["qty"] + delta_qty
    holdings["USDC"]["qty"] = new_qty
    path.write_text(json.dumps(holdings))

    def arrived():
        for doc in snapshots(r):
            usdc = doc["aum"]["offexchange"]["USDC"]
            if doc["source"] == "live" and usdc["qty"] == new_qty and usdc["mark"]:
                return doc["ts"], delta_qty * usdc["mark"]
        return None
    return eventually(arrived, timeout=20, message="the holdings change in a snapshot")


def market_moves(system, price: float) -> None:
    eventually(lambda: abs(rows(system)[-1]["unit_price"] / price - 1) > 1e-7, timeout=30,
               message="the market to move the unit price")


def flow_neutral_path(history: list[dict], flow_rows: list[dict]) -> list[float]:
    """The unit price rebuilt from AUM alone, chain-linking each period's return with its flows taken out."""
    path = [history[0]["unit_price"]]
    for prev, cur in zip(history, history[1:], strict=False):
        flow = sum(f["amount_usd"] for f in flow_rows if prev["ts"] < f["ts"] <= cur["ts"])
        path.append(path[-1] * (cur["aum_total"] - flow) / prev["aum_total"])
    return path


def test_flows_on_the_running_system_never_move_the_unit_price(system, r):
    first = eventually(lambda: rows(system), timeout=60, message="the first history row")[0]
    assert math.isclose(first["unit_price"], 1.0, rel_tol=1e-12)     # inception (units to a nano-unit)
    market_moves(system, 1.0)
    at, amount = move_usdc(system, r, 1_500.0)                      # the money arrives...
    sub = navstream(system.env, "flow", "subscribe", f"{amount:.10f}", "--investor", "alice", "--at", repr(at),
                    cwd=system.workdir)                             # ...and is recorded as alice's subscription
    assert sub.returncode == 0, sub.stderr
    market_moves(system, rows(system)[-1]["unit_price"])
    at2, amount2 = move_usdc(system, r, -600.0)
    red = navstream(system.env, "flow", "redeem", f"{-amount2:.10f}", "--investor", "alice", "--at", repr(at2),
                    cwd=system.workdir)
    assert red.returncode == 0, red.stderr
    market_moves(system, rows(system)[-1]["unit_price"])

    with system.engine.connect() as conn:
        flow_rows = [dict(f) for f in conn.execute(sa.select(flows).order_by(flows.c.ts)).mappings()]
    investor_flows = [f for f in flow_rows if f["kind"] in ("subscription", "redemption")]
    assert [f["kind"] for f in investor_flows] == ["subscription", "redemption"]
    for f in investor_flows:        # the unit price just before and just after each flow
        before = f["aum_before"] / float(f["units_before"])
        after = (f["aum_before"] + f["amount_usd"]) / float(f["units_before"] + f["units"])
        assert abs(after / before - 1) < 1e-9
    units = [f["units"] for f in flow_rows]
    history = rows(system)
    assert sum(units, Decimal(0)) == history[-1]["units"]           # Σ investor units == units outstanding, exactly
    listing = navstream(system.env, "flow", "list", cwd=system.workdir).stdout
    assert f"units outstanding {history[-1]['units']}" in listing

    # drawdown and TWR of the unit price equal those of the same market path without the flows
    with_flows = [h["unit_price"] for h in history]
    without = flow_neutral_path(history, [f for f in flow_rows if f["kind"] != "inception"])
    assert math.isclose(max_drawdown(with_flows), max_drawdown(without), abs_tol=1e-5)
    assert math.isclose(with_flows[-1] / with_flows[0], without[-1] / without[0], rel_tol=1e-5)
    perf = orjson.loads(r.get("hedge:state:performance"))
    assert perf["units"] is not None and perf["twr"]["itd"] is not None


STRIKE_EVERY_S = 4


@pytest.fixture
def striking(redis_server, tmp_path: Path):
    """The running system with the ledger striking by itself every STRIKE_EVERY_S seconds."""
    yield from running_system(redis_server, tmp_path, LEDGER_STRIKE_EVERY_S=STRIKE_EVERY_S)


def strikes_made(system) -> list[dict]:
    with system.engine.connect() as conn:
        return [dict(s) for s in conn.execute(sa.select(strikes).order_by(strikes.c.strike_date)).mappings()]


def test_strikes_lock_hold_on_a_30_percent_jump_approve_and_verify(striking, r):
    system = striking
    # a quiet period: the ledger proposes the strike at its due time and locks it by itself
    quiet = eventually(lambda: next((s for s in strikes_made(system) if s["state"] == "locked"), None),
                       timeout=60, message="a strike locked by the ledger")
    assert quiet["approved_by"] == "ledger" and not quiet["late"] and len(quiet["hash"]) == 64

    # a 30 % jump of the fund's value before the next strike: the operator's manual NAV (`navstream nav set`)
    # adds 30 % of AUM to the futures NAV (marketsim has no price-jump fault; this moves the same figures)
    live = snapshots(r, 1)[-1]
    jumped_nav = live["nav_total"] + 0.3 * live["aum"]["total"]
    assert navstream(system.env, "nav", "set", repr(jumped_nav), cwd=system.workdir).returncode == 0
    eventually(lambda: snapshots(r, 1)[-1]["source"] == "manual", timeout=20, message="manual snapshots")
    held = eventually(lambda: next((s for s in strikes_made(system) if "unit price moved +" in s["reasons"]), None),
                      timeout=30, message="the next strike, held for the jump")
    label = held["strike_date"]
    reasons = json.loads(held["reasons"])
    assert held["state"] == "held" and held["hash"] is None
    moved = next(float(g.split("unit price moved +")[1].split("%")[0]) for g in reasons if "unit price moved" in g)
    assert 29.0 < moved < 31.0 and any("STRIKE_MAX_MOVE" in g for g in reasons), reasons
    assert any("snapshot source is 'manual'" in g for g in reasons), reasons
    listing = navstream(system.env, "strike", "list", cwd=system.workdir).stdout
    assert f"{label}  held" in listing and "unit price moved +" in listing

    # `strike run` proposes the one due now: the held one again with fresh inputs, or the next, held on the chain
    forced = navstream(system.env, "strike", "run", cwd=system.workdir)
    assert forced.returncode == 1 and ": held" in forced.stdout, forced.stdout + forced.stderr
    assert "unit price moved +" in forced.stdout or "is held: approve it first" in forced.stdout, forced.stdout
    ok = navstream(system.env, "strike", "approve", label, "--note", "marks checked on Binance", "--by",
                   "ops", cwd=system.workdir)
    assert ok.returncode == 0, ok.stderr
    listing = navstream(system.env, "strike", "list", cwd=system.workdir).stdout
    assert f"{label}  locked" in listing and "note (ops): marks checked on Binance" in listing
    locked = [s for s in strikes_made(system) if s["state"] == "locked"]
    assert locked[-1]["strike_date"] == label
    verified = navstream(system.env, "ledger", "verify", cwd=system.workdir)
    assert verified.returncode == 0 and f"{len(locked)} locked strike(s) checked" in verified.stdout, verified.stdout

    first = quiet["strike_date"]
    with system.engine.begin() as conn:     # one byte of a locked strike's stored inputs
        raw = conn.execute(sa.select(strikes.c.inputs).where(strikes.c.strike_date == first)).scalar_one()
        i = raw.index('"seq":') + 6
        edited = raw[:i] + ("1" if raw[i] != "1" else "2") + raw[i + 1:]
        conn.execute(sa.update(strikes).where(strikes.c.strike_date == first).values(inputs=edited))
    broken = navstream(system.env, "ledger", "verify", cwd=system.workdir)
    assert broken.returncode == 1 and f"strike {first}" in broken.stdout, broken.stdout

    before = len(strikes_made(system))     # the ledger goes on striking meanwhile
    export = navstream(system.env, "ledger", "export", "--format", "csv", "--out", str(system.workdir / "ex"),
                       cwd=system.workdir)
    assert export.returncode == 0
    written = (system.workdir / "ex" / "strikes.csv").read_text().count("\n") - 1   # less the header
    assert before <= written <= len(strikes_made(system)), (before, written)

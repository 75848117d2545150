"""marketsim's income history: Binance's paging rules, and every wallet moving exactly by its records."""

from __future__ import annotations

import pytest

from services.marketsim.income import IncomeLog, IncomeQueryError, parse_income_query, select
from services.marketsim.state import SimError, SimState
from shared.contracts.fills import Fill

NOW_MS = 1_800_000_000_000


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def fill(ts: float, fee: float, pnl: float) -> Fill:
    return Fill(id="f", sym="BTCUSDT", side="SELL", qty=0.01, px=97_000.0, fee_usd=fee, liquidity="taker",
                fallback=False, realized_pnl_usd=pnl, slippage_bps=1.0, ts=ts)


def test_query_defaults_limits_and_binance_errors():
    q = parse_income_query({}, NOW_MS)
    assert (q.start_ms, q.end_ms, q.limit) == (NOW_MS - 7 * 86_400_000, NOW_MS, 100)
    assert parse_income_query({"endTime": "5000000000000"}, NOW_MS).start_ms == 5_000_000_000_000 - 7 * 86_400_000
    assert parse_income_query({"limit": "1000"}, NOW_MS).limit == 1000
    for params, code in (({"limit": "1001"}, -1130), ({"limit": "0"}, -1130), ({"startTime": "x"}, -1100),
                         ({"incomeType": "GIFT"}, -1130), ({"startTime": "9", "endTime": "8"}, -1127)):
        with pytest.raises(IncomeQueryError) as info:
            parse_income_query(params, NOW_MS)
        assert info.value.code == code


def test_pages_are_ascending_inclusive_and_cut_at_limit():
    log = IncomeLog()
    for i in range(10):
        log.add(1_000 + 10 * i, "COMMISSION" if i % 2 else "FUNDING_FEE", "USDT", -0.1 * i, symbol="BTCUSDT")
    page = select(log, parse_income_query({"startTime": "1010", "endTime": "1090", "limit": "3"}, NOW_MS))
    assert [r["time"] for r in page] == [1010, 1020, 1030]          # startTime inclusive, first `limit`
    assert all(isinstance(r["income"], str) and isinstance(r["tranId"], int) for r in page)
    rest = select(log, parse_income_query({"startTime": "1031", "endTime": "1090"}, NOW_MS))
    assert [r["time"] for r in rest][-1] == 1090                    # endTime inclusive
    only = select(log, parse_income_query({"startTime": "0", "incomeType": "COMMISSION"}, NOW_MS))
    assert {r["incomeType"] for r in only} == {"COMMISSION"} and len(only) == 5
    assert len({r["tranId"] for r in select(log, parse_income_query({"startTime": "0"}, NOW_MS))}) == 10


def _income_sum(sim: SimState, account: str, asset: str) -> float:
    rows = sim.income(account, parse_income_query({"startTime": "0", "limit": "1000"}, int(sim.clock() * 1000)))
    return sum(float(r["income"]) for r in rows if r["asset"] == asset)


def test_every_wallet_moves_exactly_by_its_income():
    clock = Clock(1_800_000_000.0)
    sim = SimState(seed=3, clock=clock, funding_interval_s=10.0)
    start = {n: dict(sim.account_state(n).wallets) for n in sim.account_names}
    clock.t += 35.0
    sim.snapshot()                                   # three funding events fall due
    sim.book(fill(clock.t, 0.485, -12.5))
    sim.book(fill(clock.t, 0.2, 0.0))                # no realised PnL: a COMMISSION only
    sim.transfer("main", -1000, "USDT")
    sim.transfer("sub1", 250, "usdc")
    for name in sim.account_names:
        wallets = sim.account_state(name).wallets
        for asset, before in start[name].items():
            assert wallets[asset] - before == pytest.approx(_income_sum(sim, name, asset), abs=1e-9), (name, asset)
    rows = sim.income("main", parse_income_query({"startTime": "0"}, int(clock.t * 1000)))
    funding = [r for r in rows if r["incomeType"] == "FUNDING_FEE"]
    assert len(funding) == 3 * 4                      # 3 events × main's 4 perpetual positions
    assert {r["asset"] for r in funding if r["symbol"] == "BTCUSDC"} == {"USDC"}
    assert [r["incomeType"] for r in rows].count("REALIZED_PNL") == 1
    sub1 = sim.income("sub1", parse_income_query({"startTime": "0"}, int(clock.t * 1000)))
    assert not [r for r in sub1 if r["symbol"].count("_")]    # the dated contract pays no funding


def test_an_unrecorded_transfer_moves_the_wallet_without_a_record():
    clock = Clock(1_800_000_000.0)
    sim = SimState(seed=3, clock=clock, funding_interval_s=0)
    before = sim.account_state("main").wallets["USDT"]
    done = sim.transfer("main", 50, "USDT", recorded=False)
    assert done["tran_id"] is None and sim.account_state("main").wallets["USDT"] == before + 50
    assert _income_sum(sim, "main", "USDT") == 0
    with pytest.raises(SimError, match="account is 'nope'"):
        sim.transfer("nope", 1, "USDT")
    with pytest.raises(SimError, match="non-zero finite"):
        sim.transfer("main", float("nan"), "USDT")
    with pytest.raises(SimError, match="asset is 'XYZ'"):
        sim.transfer("main", 1, "XYZ")

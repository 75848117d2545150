"""Income history and reconciliation, the pure parts: Binance's recorded income answer, the cursor
(pagination, one millisecond split across pages, restarts), and Δ wallet = Σ income per asset."""

from __future__ import annotations

import pytest

from services.nav import income, recon
from services.nav.model import AssetBalance
from shared.contracts.income import IncomeRecord
from shared.errors import ContractError, SourceBadData
from tests.binance_replay import fixture


def rec(ms: int, amount: float, kind: str = "FUNDING_FEE", asset: str = "USDT", tran: int | None = None) -> dict:
    return {"symbol": "BTCUSDT", "incomeType": kind, "income": f"{amount:.8f}", "asset": asset, "info": kind,
            "time": ms, "tranId": tran if tran is not None else ms, "tradeId": ""}


def test_binance_example_keeps_two_records_that_share_a_tran_id():
    records = income.parse_income_page(fixture("income.json"), "main")
    assert [(r.type, r.tran_id, r.asset, r.amount, r.symbol, r.ts) for r in records] == [
        ("TRANSFER", "9689322392", "USDT", -0.375, "", 1570608000.0),
        ("COMMISSION", "9689322392", "USDT", -0.01, "BTCUSDT", 1570636800.0)]
    fresh, cursor = income.advance(income.Cursor(0), records)
    assert len(fresh) == 2, "unique by account + type + tran_id, not tran_id alone"
    assert cursor == income.Cursor(1570636800000, frozenset({("COMMISSION", "9689322392")}))
    again, same = income.advance(cursor, records)
    assert again == [] and same == cursor, "a re-read adds nothing"


@pytest.mark.parametrize("row, words", [
    ({"incomeType": "TRANSFER", "income": "1", "asset": "USDT", "time": 1}, "field 'tranId' is missing"),
    (rec(5, 1.0) | {"income": "lots"}, "income 'lots' / time 5 are not numbers"),
    (rec(5, 1.0) | {"income": "inf"}, "are not usable"),
    (rec(5, 1.0) | {"asset": ""}, "must be names"),
    ("junk", "a record is str, not an object"),
])
def test_a_malformed_page_names_the_record_and_field(row, words):
    with pytest.raises(SourceBadData, match=words):
        income.parse_income_page([rec(1, 1.0), row], "main")


def test_a_page_that_is_not_a_list_is_refused():
    with pytest.raises(SourceBadData, match="expected a list of records, got dict"):
        income.parse_income_page({"code": -1}, "main")


class Binance:
    """Answers /fapi/v1/income from a record list as Binance pages it: ascending, from startTime, `limit`."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows
        self.calls: list[dict] = []

    def __call__(self, what: str, method: str, params: dict) -> list[dict]:
        assert (what, method) == (income.INCOME_CALL, "fapiPrivateGetIncome")
        self.calls.append(dict(params))
        window = [r for r in self.rows if r["time"] >= params["startTime"]]
        page = params.get("page", 1)
        return window[(page - 1) * params["limit"]: page * params["limit"]]


def test_pagination_reads_every_record_once_even_when_a_millisecond_spans_pages():
    rows = [rec(1000 + i // 3, -0.01, tran=i) for i in range(2500)]   # three records per millisecond
    rows += [rec(5000, 7.0, "TRANSFER", tran=1)]                      # same tranId, another type
    api = Binance(rows)
    fresh, cursor = income.read_new(api, "main", income.Cursor(0))
    assert len(fresh) == len(rows) and len({(r.type, r.tran_id) for r in fresh}) == len(rows)
    assert len(api.calls) == 3 and all(c["limit"] == 1000 for c in api.calls)
    assert cursor.start_ms == 5000
    api.rows.append(rec(6000, 1.0, tran=9999))
    more, _ = income.read_new(api, "main", cursor)
    assert [(r.tran_id, r.amount) for r in more] == [("9999", 1.0)], "only the new record"


def test_a_thousand_records_in_one_millisecond_page_by_page_number():
    rows = [rec(42, -0.01, tran=i) for i in range(1500)]
    api = Binance(rows)
    fresh, _ = income.read_new(api, "main", income.Cursor(0))
    assert len(fresh) == 1500 and api.calls[-1].get("page") == 2


def test_a_malformed_later_page_returns_nothing_and_keeps_the_cursor():
    rows = [rec(1000 + i, -0.01) for i in range(1000)] + [rec(3000, 1.0) | {"income": "?"}]
    with pytest.raises(SourceBadData):
        income.read_new(Binance(rows), "main", income.Cursor(0))


def test_cursor_round_trips_and_junk_is_a_contract_error():
    cursor = income.Cursor(12, frozenset({("TRANSFER", "1"), ("COMMISSION", "1")}))
    assert income.decode_cursor(income.encode_cursor(cursor), "k") == cursor
    with pytest.raises(ContractError, match="k: not an income cursor"):
        income.decode_cursor(b'{"start_ms": -1, "seen": []}', "k")


# --- reconciliation --------------------------------------------------------------------------


def usdt(wallet: float, ms: int) -> tuple[AssetBalance, ...]:
    return (AssetBalance("USDT", wallet, 0.0, ms),)


def record(ms: int, amount: float, kind: str = "TRANSFER", asset: str = "USDT") -> IncomeRecord:
    return IncomeRecord("main", str(ms), kind, asset, amount, "", ms / 1000)


def test_recorded_transfer_funding_and_commission_explain_the_wallet():
    state = recon.start(usdt(1000.0, 10), [record(5, 1000.0)])    # history before the base is not counted
    state = recon.reconcile(state, usdt(1000.0 - 1000.0 - 0.5 - 0.25, 20),
                            [record(15, -1000.0), record(16, -0.5, "FUNDING_FEE"), record(17, -0.25, "COMMISSION")])
    assert dict(state.residuals) == {}


def test_an_unrecorded_transfer_is_a_residual_until_a_record_explains_it():
    state = recon.start(usdt(1000.0, 10), [])
    state = recon.reconcile(state, usdt(1050.0, 20), [])
    assert dict(state.residuals) == {"USDT": pytest.approx(50.0)}
    state = recon.reconcile(state, usdt(1050.0, 30), [])
    assert dict(state.residuals) == {"USDT": pytest.approx(50.0)}, "held until explained"
    state = recon.reconcile(state, usdt(1050.0, 40), [record(18, 50.0)])   # the late record
    assert dict(state.residuals) == {}


def test_a_record_after_the_rows_update_time_waits_for_the_next_poll():
    state = recon.start(usdt(1000.0, 10), [])
    state = recon.reconcile(state, usdt(1000.0, 10), [record(12, 25.0)])   # read after the account answer
    assert dict(state.residuals) == {} and [p.ms for p in state.pending] == [12]
    state = recon.reconcile(state, usdt(1025.0, 12), [])
    assert dict(state.residuals) == {} and state.pending == ()


def test_each_asset_is_reconciled_on_its_own():
    rows = (AssetBalance("USDT", 100.0, 0.0, 10), AssetBalance("USDC", 50.0, 0.0, 10))
    state = recon.start(rows, [])
    state = recon.reconcile(state, (AssetBalance("USDT", 90.0, 0.0, 20), AssetBalance("USDC", 60.0, 0.0, 20)),
                            [record(15, -10.0)])
    assert dict(state.residuals) == {"USDC": pytest.approx(10.0)}
    assert recon.decode_recon(recon.encode_recon(state), "k") == state

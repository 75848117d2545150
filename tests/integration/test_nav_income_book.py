"""The income book against a real redis-server: each record once across restarts, nothing half-written."""

from __future__ import annotations

from services.nav.bookkeeper import IncomeBook
from services.nav.model import AccountSnapshot, AssetBalance
from shared.contracts.income import decode_income
from shared.errors import SourceBadData
from shared.keys import Keys
from tests.binance_replay import fixture

KEYS = Keys()


class Api:
    """/fapi/v1/income answers from a list, or raises what it is told to."""

    def __init__(self, rows: list) -> None:
        self.rows = rows
        self.fail: Exception | None = None

    def __call__(self, _what: str, _method: str, params: dict) -> list:
        if self.fail is not None:
            raise self.fail
        return [r for r in self.rows if r["time"] >= params["startTime"]][: params["limit"]]


def snap(wallet: float, ms: int) -> AccountSnapshot:
    return AccountSnapshot(ms / 1000, wallet, wallet, (), (AssetBalance("USDT", wallet, 0.0, ms),))


def stream(r) -> list:
    return [decode_income(f) for _id, f in r.xrange(KEYS.income)]


def test_binance_records_are_written_once_across_restarts(r):
    api = Api(fixture("income.json"))
    book = IncomeBook("main", api, r, KEYS, lookback_ms=10**13)
    assert book.update(snap(100.0, 1570636800000)).written == 2
    assert [(x.type, x.tran_id) for x in stream(r)] == [("TRANSFER", "9689322392"), ("COMMISSION", "9689322392")]
    restarted = IncomeBook("main", api, r, KEYS, lookback_ms=10**13)
    assert restarted.update(snap(100.0, 1570636800000)).written == 0
    assert len(stream(r)) == 2


def test_a_malformed_page_writes_nothing_and_is_read_again(r):
    api = Api(fixture("income.json"))
    book = IncomeBook("main", api, r, KEYS, lookback_ms=10**13)
    book.update(snap(100.0, 1570636800000))
    good = {k: r.hget(k, "main") for k in (KEYS.income_cursor, KEYS.recon_state)}
    api.rows = [*api.rows, {"symbol": "", "incomeType": "TRANSFER", "income": "oops", "asset": "USDT",
                            "time": 1570700000000, "tranId": 7}]
    result = book.update(snap(150.0, 1570700000000))
    assert "income 'oops' / time 1570700000000 are not numbers" in result.error
    assert len(stream(r)) == 2 and {k: r.hget(k, "main") for k in good} == good, "nothing half-written"
    api.rows[-1]["income"] = "50"
    assert book.update(snap(150.0, 1570700000000)).written == 1
    assert book.update(snap(150.0, 1570700000000)).residuals == {}
    api.fail = SourceBadData("account", "GET /fapi/v1/income: the exchange answered with an error")
    assert "answered with an error" in book.update(snap(151.0, 1570700000001)).error


def test_a_quiet_account_is_no_gap_but_a_book_unread_beyond_the_window_is(r, monkeypatch):
    from services.nav import bookkeeper

    now = [1_800_000_000.0]
    monkeypatch.setattr(bookkeeper.time, "time", lambda: now[0])
    old = [{"symbol": "", "incomeType": "TRANSFER", "income": "100", "asset": "USDT", "info": "",
            "time": int((now[0] - 80 * 86_400) * 1000), "tranId": 1, "tradeId": ""}]
    book = IncomeBook("main", Api(old), r, KEYS, lookback_ms=90 * 86_400_000)
    assert book.update(snap(100.0, int(now[0] * 1000))).error is None
    now[0] += 20 * 86_400   # the newest record is now 100 days old; the book was read 20 days ago
    book._last_read = -float("inf")   # due
    assert book.update(snap(100.0, int(now[0] * 1000))).error is None, "nothing was missed: no gap"
    now[0] += 100 * 86_400  # not read for 100 days: Binance no longer has what came in between
    book._last_read = -float("inf")
    assert "older than Binance keeps" in (book.update(snap(100.0, int(now[0] * 1000))).error or "")

"""Binance's income history of one account, read incrementally: `GET /fapi/v1/income` -> IncomeRecord.

ccxt maps `fetch_ledger` to this endpoint but first loads every market and renames the types
(`FUNDING_FEE` -> "fee"...), so the raw call `fapiPrivateGetIncome` is used: the records keep
Binance's own fields (`symbol`, `incomeType`, `income`, `asset`, `info`, `time`, `tranId`,
`tradeId`). Binance's rules (Get Income History): weight 30; `limit` up to 1000 (default 100);
without `startTime`/`endTime` only the last 7 days; only the last three months are kept; `tranId`
is unique per income type of a user (a TRANSFER and a COMMISSION may share one).

The cursor is the newest record's time plus the identities seen at that millisecond, so a page
boundary inside one millisecond neither drops nor repeats a record. Every page of a read is
parsed before anything is written: a malformed page is one clear error and nothing half-written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.contracts.income import IncomeRecord
from shared.errors import ContractError, SourceBadData

SOURCE = "account"
INCOME_CALL = "GET /fapi/v1/income"
PAGE_LIMIT = 1000
MAX_PAGES = 50              # one read stops here (50,000 records); the rest come next poll
LOOKBACK_MS = 89 * 86_400_000   # a first read goes back almost Binance's three months


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next read starts: `start_ms` (inclusive) and the record identities seen at it."""

    start_ms: int
    seen: frozenset[tuple[str, str]] = field(default_factory=frozenset)   # (type, tran_id)
    read_ms: int | None = None
    """When the read that produced this cursor began: everything before it has been read, even if
    the newest record (`start_ms`) is older (an account with no income for months has no gap)."""


def encode_cursor(cursor: Cursor) -> bytes:
    doc: dict[str, object] = {"start_ms": cursor.start_ms, "seen": sorted([t, i] for t, i in cursor.seen)}
    if cursor.read_ms is not None:
        doc["read_ms"] = cursor.read_ms
    return orjson.dumps(doc)


def decode_cursor(raw: bytes | str, where: str) -> Cursor:
    try:
        doc = orjson.loads(raw)
        seen = frozenset((str(t), str(i)) for t, i in doc["seen"])
        start = doc["start_ms"]
        read = doc.get("read_ms")
        for name, value in (("start_ms", start), ("read_ms", 0 if read is None else read)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} is {value!r}")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ContractError(f"{where}: not an income cursor ({exc})") from None
    return Cursor(start, seen, read)


def _field(row: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in row:
        raise SourceBadData(SOURCE, f"{where}: field {name!r} is missing")
    return row[name]


def parse_income_row(row: Any, account: str, where: str) -> IncomeRecord:
    """One record of an income page; a bad one raises SourceBadData naming the record and field."""
    if not isinstance(row, Mapping):
        raise SourceBadData(SOURCE, f"{where}: a record is {type(row).__name__}, not an object")
    tran_id = _field(row, "tranId", where)
    where = f"{where} record tranId {tran_id!r}"
    kind, asset = _field(row, "incomeType", where), _field(row, "asset", where)
    if not isinstance(kind, str) or not kind or not isinstance(asset, str) or not asset:
        raise SourceBadData(SOURCE, f"{where}: incomeType {kind!r} / asset {asset!r} must be names")
    raw_amount, raw_time = _field(row, "income", where), _field(row, "time", where)
    try:
        amount, time_ms = float(raw_amount), int(raw_time)
    except (TypeError, ValueError):
        raise SourceBadData(SOURCE, f"{where}: income {raw_amount!r} / time {raw_time!r} are not numbers") from None
    if isinstance(raw_amount, bool) or not math.isfinite(amount) or time_ms <= 0:
        raise SourceBadData(SOURCE, f"{where}: income {raw_amount!r} / time {raw_time!r} are not usable")
    symbol = row.get("symbol") or ""
    return IncomeRecord(account=account, tran_id=str(tran_id), type=kind, asset=asset, amount=amount,
                        symbol=str(symbol), ts=time_ms / 1000)


def record_ms(rec: IncomeRecord) -> int:
    return round(rec.ts * 1000)


def parse_income_page(rows: Any, account: str) -> list[IncomeRecord]:
    where = f"{INCOME_CALL} (account {account})"
    if not isinstance(rows, list):
        raise SourceBadData(SOURCE, f"{where}: expected a list of records, got {type(rows).__name__}")
    return [parse_income_row(row, account, where) for row in rows]


def advance(cursor: Cursor, records: Iterable[IncomeRecord]) -> tuple[list[IncomeRecord], Cursor]:
    """The records not seen before (in time order) and the cursor after them."""
    fresh: list[IncomeRecord] = []
    start, seen = cursor.start_ms, set(cursor.seen)
    for rec in sorted(records, key=record_ms):
        ms, ident = record_ms(rec), (rec.type, rec.tran_id)
        if ms < cursor.start_ms or (ms == start and ident in seen):
            continue
        if ms > start:
            start, seen = ms, set()
        seen.add(ident)
        fresh.append(rec)
    return fresh, Cursor(start, frozenset(seen))


Call = Callable[[str, str, Mapping[str, Any]], Any]
"""(what, ccxt implicit method, params) -> raw answer; the account adapter's `call`."""


def read_new(call: Call, account: str, cursor: Cursor) -> tuple[list[IncomeRecord], Cursor]:
    """Every record since `cursor`, page by page (limit 1000, startTime moving on), parsed before returning."""
    fresh: list[IncomeRecord] = []
    page_no = 1
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"startTime": cursor.start_ms, "limit": PAGE_LIMIT}
        if page_no > 1:
            params["page"] = page_no
        rows = parse_income_page(call(INCOME_CALL, "fapiPrivateGetIncome", params), account)
        new, after = advance(cursor, rows)
        fresh.extend(new)
        if len(rows) < PAGE_LIMIT:
            return fresh, after
        # A full page: more may follow. If it did not move the start (1000 records in one ms),
        # ask for the next page of the same start instead.
        page_no = page_no + 1 if after.start_ms == cursor.start_ms else 1
        cursor = after
    return fresh, cursor

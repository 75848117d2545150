"""One account's income ledger and reconciliation, kept in Redis so a restart neither repeats nor loses.

After each good account poll the poller hands the snapshot here. When a wallet moved (or a
minute passed) the new income records are read (services/nav/income.py), the wallets are
reconciled against them (services/nav/recon.py), an operator's explanations of breaks
(`navstream nav explain`, `hedge:recon:explain`) are applied, and then, in ONE MULTI: every new
record is XADDed to `hedge:income`, the cursor goes to `hedge:income:cursor`, the reconciliation
state (with what was explained, by whom's note) to `hedge:recon:state`. If the read or the write
fails, nothing moved: the next poll reads the same records again, so each is written once (unique
by account + type + tran_id).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import orjson
import redis

from shared.contracts._fields import json_object
from shared.contracts.income import encode_income
from shared.errors import ConfigError, ContractError, SourceError
from shared.keys import Keys
from shared.redis_io import RedisUnavailable

from services.nav import income, recon
from services.nav.model import AccountSnapshot

log = logging.getLogger("nav.income")

READ_EVERY_S = 60.0          # read even when no wallet moved, to catch records that net to zero
INCOME_STREAM_MAXLEN = 1_000_000   # the record: trimmed only far beyond what the ledger lags


@dataclass(frozen=True, slots=True)
class BookResult:
    residuals: dict[str, float]
    error: str | None
    written: int = 0


class IncomeBook:
    """Reads, reconciles and records one account's income; `update()` after every good poll."""

    def __init__(self, account: str, call: income.Call, r: redis.Redis, keys: Keys,
                 lookback_ms: int = income.LOOKBACK_MS) -> None:
        self.account = account
        self.call = call
        self.r = r
        self.keys = keys
        self.lookback_ms = lookback_ms
        self.cursor: income.Cursor | None = None
        self.state: recon.ReconState | None = None
        self._loaded = False
        self._last_read = -float("inf")   # monotonic
        self._last_rows: tuple[tuple[str, float, int], ...] = ()

    def update(self, snap: AccountSnapshot) -> BookResult:
        """Read what is new if it is due, reconcile, apply explanations, record; the residuals and any error."""
        try:
            self._load()
            explanations = self._explanations()
        except RedisUnavailable as exc:
            return self._result(f"cannot load the income cursor from Redis ({exc}); will retry")
        rows = tuple((a.asset, a.wallet, a.update_ms) for a in snap.assets)
        due = self.state is None or rows != self._last_rows or time.monotonic() - self._last_read >= READ_EVERY_S
        if not due and not explanations:
            return self._result(None)
        fresh: list = []
        cursor, state = self.cursor, self.state
        gap = None
        if due or state is None:
            start, gap = self._start_cursor()
            read_ms = int(time.time() * 1000)
            try:
                fresh, cursor = income.read_new(self.call, self.account, start)
            except SourceError as exc:
                return self._result(exc.detail)
            cursor = replace(cursor, read_ms=read_ms)
            state = recon.start(snap.assets, fresh) if state is None else recon.reconcile(state, snap.assets, fresh)
        for asset, note, ms in explanations.values():
            state = recon.explain(state, asset, note, ms)
        try:
            self._write(fresh, cursor, state, list(explanations))
        except (*RedisUnavailable, redis.ResponseError) as exc:
            return self._result(f"cannot record income in Redis ({exc}); nothing written, will read again")
        self.cursor, self.state = cursor, state
        if due:
            self._last_rows, self._last_read = rows, time.monotonic()
        if fresh:
            log.info("account %s: %d new income record(s) on %s", self.account, len(fresh), self.keys.income)
        for asset, note, _ms in explanations.values():
            log.warning("account %s: reconciliation of %s explained by the operator: %s", self.account, asset, note)
        return self._result(gap, len(fresh))

    def _start_cursor(self) -> tuple[income.Cursor, str | None]:
        """Where this read starts, and a note when the cursor is older than Binance keeps (a gap)."""
        first = self._first_cursor()
        if self.cursor is None:
            return first, None
        read_up_to = self.cursor.start_ms if self.cursor.read_ms is None else max(self.cursor.start_ms,
                                                                                  self.cursor.read_ms)
        if read_up_to < first.start_ms:
            return first, (f"income history: the last record read is older than Binance keeps (three months); "
                           f"records between {read_up_to} and {first.start_ms} ms may be missing")
        return self.cursor, None

    def _explanations(self) -> dict[str, tuple[str, str, int]]:
        """This account's pending operator explanations: field -> (asset, note, ms)."""
        out: dict[str, tuple[str, str, int]] = {}
        prefix = f"{self.account}/"
        for raw_field, raw in self.r.hgetall(self.keys.recon_explain).items():
            name = raw_field.decode() if isinstance(raw_field, bytes) else str(raw_field)
            if not name.startswith(prefix):
                continue
            try:
                doc = json_object(raw, f"{self.keys.recon_explain} {name}")
                out[name] = (name[len(prefix):], str(doc.get("note") or ""), int(float(doc.get("ts", 0)) * 1000))
            except (ContractError, TypeError, ValueError) as exc:
                log.error("%s; ignoring it", exc)
        return out

    def _result(self, error: str | None, written: int = 0) -> BookResult:
        residuals = dict(self.state.residuals) if self.state is not None else {}
        return BookResult(residuals, error, written)

    def _first_cursor(self) -> income.Cursor:
        return income.Cursor(max(0, int(time.time() * 1000) - self.lookback_ms))

    def _load(self) -> None:
        if self._loaded:
            return
        raw_cursor = self.r.hget(self.keys.income_cursor, self.account)
        raw_state = self.r.hget(self.keys.recon_state, self.account)
        self._loaded = True
        try:
            self.cursor = income.decode_cursor(raw_cursor, f"{self.keys.income_cursor} {self.account}") \
                if raw_cursor is not None else None
            self.state = recon.decode_recon(raw_state, f"{self.keys.recon_state} {self.account}") \
                if raw_state is not None else None
        except ContractError as exc:
            log.error("%s; starting the income cursor and reconciliation afresh", exc)
            self.cursor = self.state = None

    def _write(self, fresh: list, cursor: income.Cursor | None, state: recon.ReconState,
               explained: list[str]) -> None:
        pipe = self.r.pipeline(transaction=True)
        for rec in fresh:
            pipe.xadd(self.keys.income, encode_income(rec), maxlen=INCOME_STREAM_MAXLEN, approximate=True)
        if cursor is not None:
            pipe.hset(self.keys.income_cursor, self.account, income.encode_cursor(cursor))
        pipe.hset(self.keys.recon_state, self.account, recon.encode_recon(state))
        if explained:
            pipe.hdel(self.keys.recon_explain, *explained)
        pipe.execute()


def request_explanation(r: redis.Redis, keys: Keys, account: str, asset: str, note: str) -> None:
    """`navstream nav explain ACCOUNT ASSET --note TEXT`: the nav service clears that break at its next poll."""
    if not note.strip():
        raise ConfigError("navstream nav explain: --note is required: say what explains the wallet's movement")
    r.hset(keys.recon_explain, f"{account}/{asset.upper()}", orjson.dumps({"note": note.strip(), "ts": time.time()}))

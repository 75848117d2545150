"""Redis side of the publisher: reading KPI inputs, the window of fills, and the one-transaction commit."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson
import redis

from shared.contracts._fields import finite_or_problem
from shared.contracts.bars import Bar, decode_bar, encode_bar
from shared.contracts.fills import Fill, decode_fill
from shared.contracts.kpi_state import KpiState, decode_kpi_state, encode_kpi_state
from shared.contracts.nav import validate_nav_document
from shared.errors import ContractError
from shared.keys import Keys
from shared.redis_io import GroupReader

from services.publisher.kpis.window import FillTotals, TimedFill, entry_ms, window_start_ms
from services.publisher.publication import Publication

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchInputs:
    state: KpiState
    closed_bars: dict[str, list[Bar]]
    problems: list[str]        # unreadable state fields or bar entries, left out
    transfers_usd: float | None = None   # the ledger's Σ TRANSFER USD, for the drawdown peak


def load_batch_inputs(r: redis.Redis, keys: Keys, markets: Iterable[str], bars_needed: int) -> BatchInputs:
    """The KPI state hash and the last `bars_needed` closed bars of each market, in one round trip."""
    markets = sorted(markets)
    pipe = r.pipeline(transaction=False)
    pipe.hgetall(keys.kpi_state)
    pipe.get(keys.ledger_transfers)
    for market in markets:
        pipe.xrevrange(keys.bars(market), count=bars_needed)
    state_fields, transfers_raw, *bar_replies = pipe.execute()
    state, problems = decode_kpi_state(state_fields)
    problems = [f"{keys.kpi_state}: {p}" for p in problems]
    closed: dict[str, list[Bar]] = {}
    for market, reply in zip(markets, bar_replies, strict=True):
        bars: list[Bar] = []
        for entry_id, fields in reversed(reply):
            try:
                bars.append(decode_bar(fields))
            except ContractError as exc:
                problems.append(f"{keys.bars(market)} entry {entry_id.decode()}: {exc}")
        closed[market] = bars
    return BatchInputs(state, closed, problems, _transfers(transfers_raw, keys, problems))


def _transfers(raw: bytes | None, keys: Keys, problems: list[str]) -> float | None:
    found: list[str] = []
    value = finite_or_problem(raw, keys.ledger_transfers, found)
    problems.extend(f"{p}; the drawdown peak is not shifted" for p in found)
    return value


def load_published_snapshot(r: redis.Redis, keys: Keys) -> dict | None:
    """The snapshot last published (hedge:state:nav), so a restart's fills-only batch has NAV figures."""
    raw = r.get(keys.state_nav)
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
        return validate_nav_document(doc)
    except (orjson.JSONDecodeError, ContractError) as exc:
        log.warning("%s is not a valid nav.v7 document (%s); KPIs start without NAV figures "
                    "until the next snapshot", keys.state_nav, exc)
        return None


class FillWindow:
    """The fills of the last `window_s` seconds, kept in memory and topped up with XRANGE.

    Redis holds the truth; this is a cache rebuilt on `reload()`. At most `max_fills`
    newest fills are kept (the bound); `truncated` says when the window holds more.
    `totals` follows every fill in and out, so the KPIs never walk the whole window.
    """

    def __init__(self, r: redis.Redis, stream: str, window_s: float, max_fills: int) -> None:
        self.r = r
        self.stream = stream
        self.window_s = window_s
        self.max_fills = max_fills
        self.entries: deque[TimedFill] = deque(maxlen=max_fills)
        self.totals = FillTotals()
        self.last_id: bytes | None = None
        self.truncated = False
        self.rejected = 0
        self._dropped_ms = 0       # newest fill time left out for the bound

    def reload(self, now: float) -> None:
        self.entries.clear()
        self.totals = FillTotals()
        self._dropped_ms = 0
        start = window_start_ms(now, self.window_s)
        reply = self.r.xrevrange(self.stream, min=start, count=self.max_fills)
        self.last_id = reply[0][0] if reply else None
        if len(reply) >= self.max_fills:
            older = self.r.xrevrange(self.stream, max=b"(" + reply[-1][0], min=start, count=1)
            if older:                      # the newest fill of the window left out for the bound
                self._dropped_ms = entry_ms(older[0][0])
        self._add(reversed(reply))
        self._prune(now)

    def refresh(self, now: float) -> None:
        """Add fills newer than the last one seen; drop those that left the window."""
        if self.last_id is None:
            self.reload(now)
            return
        while True:
            reply = self.r.xrange(self.stream, min=b"(" + self.last_id, count=self.max_fills)
            if reply:
                self.last_id = reply[-1][0]
                self._add(reply)
            if len(reply) < self.max_fills:
                break
        self._prune(now)

    def fills(self) -> list[Fill]:
        return [t.fill for t in self.entries]

    def _add(self, reply: Iterable[tuple[bytes, Mapping[bytes, bytes]]]) -> None:
        for entry_id, fields in reply:
            try:
                timed = TimedFill(entry_ms(entry_id), decode_fill(fields))
            except ContractError as exc:
                self.rejected += 1
                log.warning("%s entry %s: %s; left out of the fee and router KPIs",
                            self.stream, entry_id.decode(), exc)
                continue
            if len(self.entries) == self.max_fills:     # the append below drops the oldest
                self._dropped_ms = max(self._dropped_ms, self.entries[0].ms)
                self.totals.remove(self.entries[0].fill)
            self.entries.append(timed)
            self.totals.add(timed.fill)

    def _prune(self, now: float) -> None:
        start = window_start_ms(now, self.window_s)
        while self.entries and self.entries[0].ms <= start:
            self.totals.remove(self.entries.popleft().fill)
        self.truncated = self._dropped_ms > start


@dataclass(frozen=True, slots=True)
class Bounds:
    history_maxlen: int
    bars_maxlen: int


def commit(r: redis.Redis, keys: Keys, reader: GroupReader, pub: Publication | None,
           acks: Mapping[str, list[bytes]], *, bounds: Bounds, write_kpis: bool) -> None:
    """One MULTI/EXEC: state keys, history point, closed bars, KPI state, then the acks."""
    pipe = r.pipeline(transaction=True)
    if pub is not None:
        if pub.nav_doc is not None:
            pipe.set(keys.state_nav, orjson.dumps(pub.nav_doc))
            pipe.set(keys.state_positions, orjson.dumps(pub.positions_doc))
        if write_kpis:
            pipe.set(keys.state_kpis, orjson.dumps(pub.kpis_doc))
        if pub.history_point is not None:
            pipe.xadd(keys.nav_history, pub.history_point, maxlen=bounds.history_maxlen, approximate=True)
        for market, bars in pub.new_bars.items():
            for bar in bars:
                pipe.xadd(keys.bars(market), encode_bar(bar), maxlen=bounds.bars_maxlen, approximate=True)
        state = encode_kpi_state(pub.state)
        if state:
            pipe.hset(keys.kpi_state, mapping=state)
    for stream, ids in acks.items():
        reader.ack(pipe, stream, ids)
    pipe.execute()

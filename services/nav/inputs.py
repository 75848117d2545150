"""What the nav loop reads besides the accounts: prices (seeded, then merged batch by batch), the
operator's manual NAV key, and the holdings file.

Each reader keeps its own state and says whether anything changed, so the loop can decide
when to publish (services/nav/loop.py, `publish_due`).
"""

from __future__ import annotations

import logging
import math
import time
from typing import cast

import redis

from shared.contracts.prices import PriceObservation, decode_latest, decode_price_flat
from shared.errors import ContractError
from shared.heartbeat import Heartbeat
from shared.holdings import HoldingsWatcher
from shared.keys import Keys
from shared.redis_io import EntryPos, FlatEntry, GroupReader, entry_pos

from services.nav.manual import decode_manual_nav
from services.nav.model import ManualNav

READ_COUNT = 1000         # entries per XREADGROUP; a full read means more are waiting
# Entries one snapshot absorbs at most; the rest wait for the next step. Two full rounds at
# 10,000 instruments, and ~13 MB of parsed replies: a backlog after an outage is read in pieces.
MAX_BATCH = 20_000

Batch = list[tuple[str, list[FlatEntry]]]


def merge_price(prices: dict[str, PriceObservation], positions: dict[str, EntryPos],
                obs: PriceObservation, pos: EntryPos) -> bool:
    """Keep, per sym, the observation from the newest stream entry; return True if the price changed.

    Order follows the stream, not the observation's `ts`: the pricer decides what is
    current, and a fallback tier's price can legitimately be older than the tier it
    replaces (CoinGecko's last_updated_at vs a cached spot tick). Entry IDs are
    monotonic even when wall clocks jump, and a redelivered entry keeps its ID, so
    replays and duplicates change nothing.
    """
    if pos <= positions.get(obs.sym, (-1, -1)):
        return False
    positions[obs.sym] = pos
    changed = prices.get(obs.sym) != obs
    prices[obs.sym] = obs
    return changed


class OnceLog:
    """Log a problem when it first appears or changes, not every round."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._logged: dict[str, str] = {}

    def __call__(self, kind: str, message: str) -> None:
        if self._logged.get(kind) != message:
            self._logged[kind] = message
            self.log.warning("%s", message)


class PriceInput:
    """The latest price per sym: seeded from `hedge:prices:latest`, then merged from the stream."""

    def __init__(self, r: redis.Redis, keys: Keys, reader: GroupReader, heartbeat: Heartbeat,
                 log_once: OnceLog) -> None:
        if not reader.flat_fields:
            raise ValueError("PriceInput decodes entries as a GroupReader on a flat_fields_client reads them")
        self.r, self.keys, self.reader, self.heartbeat, self.log_once = r, keys, reader, heartbeat, log_once
        self.prices: dict[str, PriceObservation] = {}
        self.price_pos: dict[str, EntryPos] = {}

    def seed(self) -> None:
        # The latest hash reflects the stream up to its newest entry; older pending entries
        # recovered after this must not overwrite it.
        newest = self.r.xrevrange(self.keys.prices, count=1)
        pos = entry_pos(newest[0][0]) if newest else (0, 0)
        self.price_pos.clear()  # after a Redis restart IDs may start lower; the seed is the new baseline
        for sym, raw in self.r.hgetall(self.keys.prices_latest).items():
            try:
                merge_price(self.prices, self.price_pos, decode_latest(sym, raw), pos)
            except ContractError as exc:
                self.log_once("seed", f"{self.keys.prices_latest}: {exc}; skipping it")

    def read_pending(self, block_ms: int) -> Batch:
        """Everything pending on the price stream (up to MAX_BATCH), so that one pricer round,
        however many instruments it prices, becomes one snapshot rather than one per read.

        A blocked read is answered as soon as the first entry of a round lands; the rest of the
        round is in the same pipeline and in the stream a few microseconds later. So after a
        partial read there is one more read without waiting: a round of 14 entries was two
        snapshots (1 entry, then 13), the second one a whole snapshot late.
        """
        batch = cast(Batch, self.reader.read(block_ms=block_ms))   # flat_fields: see __init__
        got = total = sum(len(entries) for _stream, entries in batch)
        caught_up = False
        while got and total < MAX_BATCH:
            if got < self.reader.count:
                if caught_up:
                    break
                caught_up = True
            more = cast(Batch, self.reader.read(block_ms=0))   # no waiting: only what is already there
            got = sum(len(entries) for _stream, entries in more)
            total += got
            batch.extend(more)
        return batch

    def absorb(self, batch: Batch) -> list[bytes]:
        """Fold a batch into the price map; returns every entry id (bad entries are counted, not kept)."""
        ids: list[bytes] = []
        for _stream, entries in batch:
            for entry_id, fields in entries:
                ids.append(entry_id)
                try:
                    merge_price(self.prices, self.price_pos, decode_price_flat(fields), entry_pos(entry_id))
                except ContractError as exc:
                    message = f"{self.keys.prices} entry {entry_id.decode()}: {exc}; skipping it"
                    self.heartbeat.count("bad_price_entries")
                    self.heartbeat.error(message)
                    self.log_once("price", message)
        if ids:
            self.heartbeat.count("price_entries", len(ids))
            self.heartbeat.count("price_batches")
        return ids


class ManualInput:
    """The active manual NAV: the Redis key first, then MANUAL_NAV; the key is read once per interval.

    At high price rates reading it every step was one extra round trip per snapshot; an
    operator's change still shows within the interval, like any other input.
    """

    def __init__(self, r: redis.Redis, keys: Keys, setting: ManualNav | None, interval_s: float,
                 log_once: OnceLog) -> None:
        self.r, self.keys, self.setting, self.interval_s, self.log_once = r, keys, setting, interval_s, log_once
        self._raw: bytes | None = None
        self._read_at = -math.inf   # monotonic

    def reset(self) -> None:
        """Redis may have restarted: read the key again at the next step."""
        self._read_at = -math.inf

    def read(self) -> tuple[ManualNav | None, list[str], bool]:
        """(manual NAV, problems with the key, whether the key changed since the last read)."""
        changed = False
        now = time.monotonic()
        if now - self._read_at >= self.interval_s:
            self._read_at = now
            raw = self.r.get(self.keys.nav_manual)
            if raw != self._raw:
                self._raw, changed = raw, True
        if self._raw is None:
            return self.setting, [], changed
        try:
            return decode_manual_nav(self._raw, self.keys.nav_manual), [], changed
        except ContractError as exc:
            message = f"{exc}; ignoring it"
            self.log_once("manual", message)
            return self.setting, [message], changed


def poll_holdings(holdings: HoldingsWatcher, heartbeat: Heartbeat, log: logging.Logger) -> bool:
    """Re-read the holdings file if it changed; True when it did (a bad file is reported, the last good kept)."""
    if not holdings.poll():
        return False
    if holdings.error:
        log.error("%s", holdings.error)
        heartbeat.error(holdings.error)
    else:
        log.info("holdings file %s loaded: %s", holdings.path, sorted(holdings.current))
    return True

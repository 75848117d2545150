"""Publishing a nav snapshot: one MULTI with the XADD to `hedge:nav`, `hedge:nav:seq`, the XACK of
the prices it absorbed and, when the accounts changed, the tracked markets and margin assets.

`seq` increases by one per snapshot and survives restarts: at setup it is recovered as the
larger of `hedge:nav:seq` and the last `hedge:nav` entry's seq.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

import redis

from shared.contracts.nav import encode_nav_entry
from shared.contracts.vocabulary import USD_PAR_ASSET
from shared.keys import Keys
from shared.redis_io import GroupReader

from services.nav.model import AccountState


@dataclass(frozen=True, slots=True)
class Tracked:
    """What the pricer must price for the accounts: their futures markets and margin assets."""

    markets: frozenset[str]
    assets: frozenset[str]


def tracked_from(states: Collection[AccountState]) -> Tracked | None:
    """The markets and non-USDT margin assets of every account's last good data; None if none answered."""
    snaps = [s.last_good for s in states if s.last_good is not None]
    if not snaps:
        return None
    markets = frozenset(m for snap in snaps for m in snap.markets)
    assets = frozenset(a for snap in snaps for a in snap.margin_assets if a != USD_PAR_ASSET)
    return Tracked(markets, assets)


class NavPublisher:
    """Owns `seq` and writes snapshots; a snapshot is either wholly in Redis or not at all."""

    def __init__(self, r: redis.Redis, keys: Keys, reader: GroupReader, log: logging.Logger) -> None:
        self.r, self.keys, self.reader, self.log = r, keys, reader, log
        self.seq = 0
        self._tracked: Tracked | None = None   # what Redis holds, as far as we know

    def recover(self) -> None:
        """After (re)connecting: seq from Redis, and the tracked sets are written again."""
        self.seq = max(self.seq, self._stored_seq())
        self._tracked = None

    def _stored_seq(self) -> int:
        """The last seq in Redis: the larger of hedge:nav:seq and the last hedge:nav entry's."""
        candidates = [0]
        raw = self.r.get(self.keys.nav_seq)
        if raw is not None:
            candidates.append(self._as_seq(raw, self.keys.nav_seq))
        last = self.r.xrevrange(self.keys.nav, count=1)
        if last:
            candidates.append(self._as_seq(last[0][1].get(b"seq", b""), f"last entry of {self.keys.nav}"))
        return max(candidates)

    def _as_seq(self, raw: bytes, where: str) -> int:
        try:
            return max(0, int(raw))
        except ValueError:
            self.log.warning("%s holds %r, not a sequence number; ignoring it", where, raw)
            return 0

    def publish(self, doc: dict, ids: list[bytes], tracked: Tracked | None, maxlen: int) -> None:
        """XADD + seq + XACK (+ tracked sets when they changed) in one MULTI."""
        pipe = self.r.pipeline(transaction=True)
        pipe.xadd(self.keys.nav, encode_nav_entry(doc), maxlen=maxlen, approximate=True)
        pipe.set(self.keys.nav_seq, doc["seq"])
        self.reader.ack(pipe, self.keys.prices, ids)
        write_tracked = tracked is not None and tracked != self._tracked
        if write_tracked:
            assert tracked is not None
            for key, members in ((self.keys.tracked_markets, tracked.markets),
                                 (self.keys.tracked_assets, tracked.assets)):
                pipe.delete(key)
                if members:
                    pipe.sadd(key, *sorted(members))
        pipe.execute()
        self.seq = doc["seq"]
        if write_tracked:
            self._tracked = tracked

"""Redis helpers every service uses: connecting, consumer groups, reading with recovery.

Guarantees we lean on (docs/architecture.md): consumers ack only after their work is durable,
reclaim stale pending entries on start, and recreate a missing group (NOGROUP,
e.g. after Redis restarted without persistence) instead of failing or hot-looping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import redis

from shared.contracts.stream_ids import EntryPos, entry_pos  # noqa: F401 - re-exported: services read entry IDs here too

log = logging.getLogger(__name__)

# Blocking reads never wait longer than this, so loops notice a stop request and
# the socket timeout (below) is always longer than any blocking read.
MAX_BLOCK_MS = 1000
SOCKET_TIMEOUT_S = 5.0

RedisUnavailable = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
"""The redis-py errors that mean "Redis is not there right now": back off and retry."""

Entry = tuple[bytes, dict[bytes, bytes]]
FlatEntry = tuple[bytes, list[bytes]]
"""An entry read with `GroupReader(flat_fields=True)`: its fields as Redis sends them, [name, value, ...]."""


def connect(url: str, *, name: str) -> redis.Redis:
    """A client with bytes replies, bounded timeouts and health checks; connects lazily."""
    return redis.Redis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=2.0,
        health_check_interval=15,
        client_name=name,
        decode_responses=False,
    )


def ensure_group(r: redis.Redis, stream: str, group: str, start_id: str = "0") -> bool:
    """Create `group` on `stream` (and the stream) unless it exists; True if created."""
    try:
        r.xgroup_create(stream, group, id=start_id, mkstream=True)
        return True
    except redis.ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise


def _streams_as_sent(response, **_options):
    """XREADGROUP's reply as `[(stream, entries), ...]` with the entries as Redis sent them
    (RESP3, redis-py's default, sends a map of stream -> entries; RESP2 a list of pairs)."""
    return list(response.items()) if isinstance(response, dict) else response


def _as_sent(response, **_options):
    return response


def flat_fields_client(r: redis.Redis) -> redis.Redis:
    """A client on `r`'s connections whose XREADGROUP and XAUTOCLAIM entries are left as Redis
    sent them (parsed by hiredis): `[id, [name, value, ...]]`, without redis-py building a dict
    per entry (`parse_stream_list`, `pairs_to_dict`)."""
    client = redis.Redis(connection_pool=r.connection_pool)
    client.set_response_callback("XREADGROUP", _streams_as_sent)
    client.set_response_callback("XAUTOCLAIM", _as_sent)
    return client


def is_nogroup(exc: redis.ResponseError) -> bool:
    return "NOGROUP" in str(exc)


class GroupReader:
    """Reads one or more streams through a consumer group, with recovery built in.

    - On the first read (and after a group is recreated) it returns this consumer's
      own pending entries, then claims entries other consumers left pending for
      longer than `claim_idle_ms` (XAUTOCLAIM): a crash between read and ack loses
      nothing.
    - NOGROUP (group or stream vanished) recreates the group once per occurrence and
      logs it; the caller's next read continues, with no hot loop.
    - Given a `flat_fields_client`, entries come as `FlatEntry` (fields `[name, value, ...]`),
      which is cheaper for a reader of many small entries (the nav's hedge:prices).
    """

    def __init__(self, r: redis.Redis, streams: Sequence[str], group: str, consumer: str,
                 *, count: int = 1000, block_ms: int = 500, claim_idle_ms: int = 10_000) -> None:
        self.r = r
        self.streams = list(streams)
        self.group = group
        self.consumer = consumer
        self.count = count
        self.block_ms = min(block_ms, MAX_BLOCK_MS)
        self.claim_idle_ms = claim_idle_ms
        self._recovering = True
        self._was_set_up = False
        self.groups_recreated = 0

    @property
    def flat_fields(self) -> bool:
        """Whether entries come as FlatEntry (the client is a `flat_fields_client`)."""
        return self.r.response_callbacks.get("XREADGROUP") is _streams_as_sent

    def setup(self) -> None:
        """Create the groups if missing; runs at start and again after every Redis outage."""
        for stream in self.streams:
            if not ensure_group(self.r, stream, self.group):
                continue
            if self._was_set_up:
                self.groups_recreated += 1
                log.warning("consumer group %r was missing on %s after Redis came back (restarted without "
                            "its data?); recreated it, entries written during the gap are lost", self.group, stream)
            else:
                log.info("created consumer group %r on %s", self.group, stream)
        self._was_set_up = True
        self._recovering = True

    def read(self, block_ms: int | None = None) -> list[tuple[str, list[Entry]]]:
        """Entries to process, as `[(stream, [(id, fields), ...]), ...]`; may be empty."""
        try:
            if self._recovering:
                batch = self._recover()
                self._recovering = False
                if batch:
                    return batch
            block = self.block_ms if block_ms is None else min(block_ms, MAX_BLOCK_MS)
            reply = self.r.xreadgroup(self.group, self.consumer, {s: ">" for s in self.streams},
                                      count=self.count, block=block or None)
        except redis.ResponseError as exc:
            if not is_nogroup(exc):
                raise
            log.warning("consumer group %r missing on %s (Redis restarted or stream deleted); "
                        "recreating it and reading from the start of what is there",
                        self.group, ", ".join(self.streams))
            self._was_set_up = False  # this occurrence is logged here; setup() need not log it again
            self.setup()
            self.groups_recreated += 1
            return []
        return _normalise(reply)

    def _recover(self) -> list[tuple[str, list[Entry]]]:
        out: list[tuple[str, list[Entry]]] = []
        for stream in self.streams:
            own = _normalise(self.r.xreadgroup(self.group, self.consumer, {stream: "0"}, count=self.count))
            entries = [e for _, es in own for e in es if e[1]]
            claimed = self._claim(stream)
            entries.extend(claimed)
            if entries:
                log.info("recovered %d pending entries on %s (%d claimed from other consumers)",
                         len(entries), stream, len(claimed))
                out.append((stream, entries))
        return out

    def _claim(self, stream: str) -> list[Entry]:
        claimed: list[Entry] = []
        cursor = "0-0"
        while True:
            reply = self.r.xautoclaim(stream, self.group, self.consumer, self.claim_idle_ms,
                                      start_id=cursor, count=self.count)
            cursor, entries = reply[0], reply[1]
            claimed.extend(e for e in entries if e[1])
            if cursor in (b"0-0", "0-0") or not entries:
                return claimed

    def ack(self, pipe: redis.client.Pipeline, stream: str, ids: Iterable[bytes]) -> None:
        ids = list(ids)
        if ids:
            pipe.xack(stream, self.group, *ids)


def _normalise(reply) -> list[tuple[str, list[Entry]]]:
    """XREADGROUP's reply (as redis-py's callback or `_streams_as_sent` shape it) as
    `[(stream name, [(id, fields), ...]), ...]`."""
    if not reply:
        return []
    return [(stream.decode() if isinstance(stream, bytes) else stream, list(entries))
            for stream, entries in reply]

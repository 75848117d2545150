"""What a stream looks like right now: length, newest entry, consumer groups with their lag.

One reading for everyone who reports on the pipeline: `navstream status` and the
dashboard's Pipeline page both call `read_stream`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from shared.contracts.stream_ids import entry_pos


@dataclass(frozen=True)
class StreamInfo:
    """One stream. Each group is {name, consumers, pending, lag, last_delivered_ts}."""

    stream: str
    length: int                       # 0 for a stream that does not exist
    newest_age_s: float | None        # now - the newest entry's time; None when empty
    groups: list[dict] = field(default_factory=list)
    exists: bool = True
    entries_added: int | None = None  # ever added, trimmed ones included
    last_ts: float | None = None      # the newest entry's time (epoch s)


def entry_ts(entry_id: Any) -> float | None:
    """The wall time (s) encoded in a stream id "1763726400125-0"; None for 0-0 or junk."""
    if not isinstance(entry_id, bytes | str):
        return None
    try:
        ms = entry_pos(entry_id)[0]
    except ValueError:
        return None
    return ms / 1000.0 if ms > 0 else None


def read_stream(r: redis.Redis, stream: str, now: float) -> StreamInfo:
    """XINFO STREAM and XINFO GROUPS of `stream`; a missing stream is `exists=False`, not an error."""
    try:
        info = r.xinfo_stream(stream)
    except redis.ResponseError as exc:
        if "no such key" in str(exc).lower():
            return StreamInfo(stream, 0, None, [], exists=False)
        raise
    groups = [{"name": _s(g.get("name")), "consumers": g.get("consumers"), "pending": g.get("pending"),
               "lag": g.get("lag"), "last_delivered_ts": entry_ts(g.get("last-delivered-id"))}
              for g in (r.xinfo_groups(stream) if info.get("groups") else [])]
    last = info.get("last-entry")
    last_ts = entry_ts(last[0]) if last else None
    return StreamInfo(stream, info.get("length") or 0, None if last_ts is None else max(0.0, now - last_ts),
                      groups, exists=True, entries_added=info.get("entries-added"), last_ts=last_ts)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

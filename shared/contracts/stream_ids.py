"""Stream entry IDs (`<ms>-<seq>`): the time Redis stamped an entry, as a comparable pair.

Every stream contract shares this: consumers order entries and measure ages by it.
"""

from __future__ import annotations

EntryPos = tuple[int, int]


def entry_pos(entry_id: bytes | str) -> EntryPos:
    """A stream entry ID as a comparable (ms, seq) pair: `1763726400125-3` -> (1763726400125, 3).

    The ms part is the time Redis stamped the entry (monotonic per stream, even when
    wall clocks jump). Junk raises ValueError. Cheap: no decode, on the nav's hot path.
    """
    if isinstance(entry_id, bytes):
        ms, _, n = entry_id.partition(b"-")
        return int(ms), int(n or 0)
    text_ms, _, text_n = entry_id.partition("-")
    return int(text_ms), int(text_n or 0)

"""One watched config file: re-read when its mtime, size or inode changes; a bad edit keeps the last good value.

Serves the holdings file (shared/holdings.py) and the CoinGecko id map (services/pricer/sources/coingecko.py):

    ids = WatchedFile(path, parse_id_map, what="coingecko id map", kept="id map", empty={},
                      none_in_use="no CoinGecko ids in use")
    if ids.poll():          # True when `value` or `error` changed
        ...ids.value, ids.error

Every failure (missing file, unreadable, invalid) is one message naming the file and saying what
is in use instead: "...; keeping the last good id map" or "...; no CoinGecko ids in use".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from shared.errors import ConfigError

T = TypeVar("T")


class WatchedFile(Generic[T]):
    """`value` is always the last good parse; `error` is the last failure's message (None when the file is good)."""

    def __init__(self, path: Path | str, parse: Callable[[bytes, Path], T], *, what: str, kept: str, empty: T,
                 none_in_use: str) -> None:
        self.path = Path(path)
        self.parse = parse
        self.what = what
        self.kept = kept
        self.none_in_use = none_in_use
        self.value: T = empty
        self.has_value = False
        self.error: str | None = None
        self.mtime: float | None = None
        self.reloads = 0
        self._stamp: tuple[int, int, int] | None = None

    def poll(self) -> bool:
        """Check the file; True if `value` or `error` changed."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self._fail(f"{self.what} {self.path}: not found", None)
        except OSError as exc:
            return self._fail(f"{self.what} {self.path}: cannot read ({exc.strerror})", None)
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return False
        try:
            value = self.parse(self.path.read_bytes(), self.path)
        except ConfigError as exc:
            return self._fail(str(exc), stamp)
        except OSError as exc:
            return self._fail(f"{self.what} {self.path}: cannot read ({exc.strerror})", None)
        changed = value != self.value or self.error is not None or not self.has_value
        self.value, self.has_value, self.error, self.mtime, self._stamp = value, True, None, st.st_mtime, stamp
        self.reloads += 1
        return changed

    def _fail(self, message: str, stamp: tuple[int, int, int] | None) -> bool:
        """Keep the last good value; a failure seen once is not reported again until the file changes."""
        self._stamp = stamp
        message += f"; keeping the last good {self.kept}" if self.has_value else f"; {self.none_in_use}"
        changed = message != self.error
        self.error = message
        return changed

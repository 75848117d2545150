"""Atomic file replacement: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write `data` to a temp file in the same folder, fsync it, rename it over `path`.

    On any error (ENOSPC, EACCES, ...) the temp file is removed, the old file is left
    as it was, and the OSError propagates for the caller to report.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def write_json_atomic(path: Path | str, doc: Any) -> None:
    """Serialise `doc` with orjson (NaN and infinity are refused upstream) and write it atomically."""
    write_bytes_atomic(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Atomic file replacement: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import orjson


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write `data` to a temp file in the same folder, fsync it, rename it over `path`, fsync the folder.

    On any error (ENOSPC, EACCES, ...) the temp file is removed, the old file is left
    as it was, and the OSError propagates for the caller to report.
    """
    path = Path(path)
    replace_bytes(path, data)
    sync_folder(path.parent)


def write_json_atomic(path: Path | str, doc: Any) -> None:
    """Serialise `doc` with orjson (NaN and infinity are refused upstream) and write it atomically."""
    write_bytes_atomic(path, json_bytes(doc))


def json_bytes(doc: Any) -> bytes:
    """The bytes write_json_atomic writes for `doc` (indented JSON)."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def replace_bytes(path: Path | str, data: bytes) -> None:
    """write_bytes_atomic without the folder fsync, for writing several files into one folder.

    Readers see the new file as soon as this returns; it survives a crash of the
    machine only once `sync_folder(path.parent)` has returned. Errors as in write_bytes_atomic.
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


def sync_folder(folder: Path | str) -> None:
    """fsync a folder: the renames into it are durable once this returns."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

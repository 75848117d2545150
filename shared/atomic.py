"""Atomic file replacement: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
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
    tmp = _durable_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def replace_bytes_each(paths: Sequence[Path], data: bytes) -> list[OSError | None]:
    """replace_bytes of the same `data` into each of `paths` (mirrors), with one write and one fsync.

    The data goes to a temp file beside the first path and is fsynced; that file is hard-linked
    beside each other path (the same inode: written and flushed once), then each temp name is
    renamed over its path, in order. A folder the link cannot reach (another file system, or one
    without hard links) gets a temp file of its own, written and fsynced the same way. Durable,
    as with replace_bytes, once each folder is fsynced (sync_folder). Every later write replaces
    the files by rename again, so the mirrors never change in place. One result per path: None,
    or the OSError that left that path's previous file as it was.
    """
    results: list[OSError | None] = []
    staged: list[tuple[int, str, Path]] = []   # (index, temp name, path) to rename, in order
    source: str | None = None                   # a temp file holding `data`, already fsynced
    try:
        for i, path in enumerate(Path(p) for p in paths):
            results.append(None)
            try:
                tmp = _linked_temp(source, path) if source is not None else None
                if tmp is None:
                    tmp = source = _durable_temp(path, data)
            except OSError as exc:
                results[i] = exc
                continue
            staged.append((i, tmp, path))
        while staged:
            i, tmp, path = staged.pop(0)
            try:
                os.replace(tmp, path)
            except OSError as exc:
                _discard(tmp)
                results[i] = exc
    finally:
        for _, tmp, _ in staged:   # only after an exception other than OSError
            _discard(tmp)
    return results


def _durable_temp(path: Path, data: bytes) -> str:
    """A new temp file beside `path` holding `data`, fsynced; removed again if that fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _linked_temp(source: str, path: Path) -> str | None:
    """A hard link to `source` under a temp name beside `path`; None where no link can be made."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        os.link(source, tmp)
    except OSError:   # EXDEV (another file system), EPERM (no hard links here), EMLINK, ...: a copy instead
        return None
    return tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def sync_folder(folder: Path | str) -> None:
    """fsync a folder: the renames into it are durable once this returns."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

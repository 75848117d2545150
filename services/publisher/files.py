"""The state files: nav.json, positions.json, kpis_v7.json in STATE_DIR, mirrored to DASHBOARD_STATE_DIR.

Every write is atomic (shared.atomic): a failed write leaves the previous file as it was.
A batch replaces each file (temp file, fsync, rename) as soon as its document is ready,
so nav.json can reach readers before the KPIs are computed, and fsyncs each folder
once at the end, which makes all of the batch's renames durable before it is acked.
A document is written and fsynced once: its mirror is a hard link to the same new file
(shared.atomic.replace_bytes_each), or a copy of its own where the folders are on
different file systems.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shared.atomic import json_bytes, replace_bytes_each, sync_folder


def state_dirs(*dirs: Path) -> list[Path]:
    """The folders to write, once each even when two settings name the same folder."""
    out: list[Path] = []
    seen: set[str] = set()
    for d in dirs:
        key = os.path.realpath(d)
        if key not in seen:
            seen.add(key)
            out.append(Path(d))
    return out


class StateFileBatch:
    """One batch's state files: `put` replaces files in every folder, `finish` makes them durable.

    A failure in one file or folder does not stop the others; each is one message.
    """

    def __init__(self, dirs: Iterable[Path]) -> None:
        self.dirs = list(dirs)
        self.written = 0                  # files replaced
        self.errors: list[str] = []
        self._changed: list[Path] = []    # folders with a rename to make durable

    def put(self, docs: Mapping[str, Any]) -> None:
        """Replace `docs` (file name -> document) in every folder, in the order given."""
        for name, doc in docs.items():
            paths = [folder / name for folder in self.dirs]
            for folder, path, exc in zip(self.dirs, paths, replace_bytes_each(paths, json_bytes(doc)), strict=True):
                if exc is not None:
                    self.errors.append(f"state file {path}: {exc.strerror or exc}; kept the previous file")
                    continue
                self.written += 1
                if folder not in self._changed:
                    self._changed.append(folder)

    def finish(self) -> list[str]:
        """fsync every folder written to, once; returns the messages of everything that failed."""
        for folder in self._changed:
            try:
                sync_folder(folder)
            except OSError as exc:
                self.errors.append(f"state folder {folder}: fsync failed ({exc.strerror or exc}); "
                                   f"its new files may not survive a power cut")
        self._changed = []
        return self.errors


def write_state_files(dirs: Iterable[Path], docs: Mapping[str, Any]) -> list[str]:
    """Write `docs` (file name -> document) into every folder; one message per file that failed."""
    batch = StateFileBatch(dirs)
    batch.put(docs)
    return batch.finish()

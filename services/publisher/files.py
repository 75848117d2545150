"""The state files: nav.json, positions.json, kpis_v7.json in STATE_DIR, mirrored to DASHBOARD_STATE_DIR.

Every write is atomic (shared.atomic): a failed write leaves the previous file as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from shared.atomic import write_json_atomic

NAV_FILE = "nav.json"
POSITIONS_FILE = "positions.json"
KPIS_FILE = "kpis_v7.json"


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


def write_state_files(dirs: Iterable[Path], docs: Mapping[str, Any]) -> list[str]:
    """Write `docs` (file name -> document) into every folder; one message per file that failed.

    A failure in one file or folder does not stop the others.
    """
    errors: list[str] = []
    for folder in dirs:
        for name, doc in docs.items():
            path = folder / name
            try:
                write_json_atomic(path, doc)
            except OSError as exc:
                errors.append(f"state file {path}: {exc.strerror or exc}; kept the previous file")
    return errors

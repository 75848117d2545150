"""Fault injection for service processes under test; loaded only when a test puts this folder on PYTHONPATH.

- NAVSTREAM_INJECT_CLOCK_OFFSET_FILE: time.time() is shifted by the float in that file
  (re-read when it changes), so a test can jump a process's wall clock.
- NAVSTREAM_INJECT_ENOSPC_FLAG + NAVSTREAM_INJECT_ENOSPC_DIR: while the flag file
  exists, fsync of any file under that folder fails with ENOSPC, as on a full disk.
"""

import errno
import os
import time

_clock_file = os.environ.get("NAVSTREAM_INJECT_CLOCK_OFFSET_FILE")
if _clock_file:
    _real_time = time.time
    _cache = {"stamp": None, "offset": 0.0}

    def _shifted_time() -> float:
        try:
            stamp = os.stat(_clock_file).st_mtime_ns
            if stamp != _cache["stamp"]:
                with open(_clock_file) as fh:
                    _cache["offset"] = float(fh.read().strip() or 0)
                _cache["stamp"] = stamp
        except (OSError, ValueError):
            pass
        return _real_time() + _cache["offset"]

    time.time = _shifted_time

_enospc_flag = os.environ.get("NAVSTREAM_INJECT_ENOSPC_FLAG")
_enospc_dir = os.environ.get("NAVSTREAM_INJECT_ENOSPC_DIR", "")
if _enospc_flag and _enospc_dir:
    _real_fsync = os.fsync

    def _fsync(fd: int) -> None:
        if os.path.exists(_enospc_flag):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if target.startswith(os.path.realpath(_enospc_dir)):
                raise OSError(errno.ENOSPC, "No space left on device")
        _real_fsync(fd)

    os.fsync = _fsync

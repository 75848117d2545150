"""A separate process that watches what a user of the pipeline sees, and when.

Two threads in one child process (so their timing does not share a GIL with the
benchmark's publishing loop):

- a reader doing `XREAD BLOCK` on hedge:nav that records, per snapshot, when it arrived
  and which holdings' marks changed since the previous one;
- a poller that `os.stat`s the state files (nav.json in STATE_DIR and its dashboard mirror)
  every POLL_S and records when a new file (new inode or mtime) appeared and its `seq`.
  No inotify: this is what any reader polling the file would see, to POLL_S resolution.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
import redis

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.0005
BLOCK_MS = 100
_SEQ = re.compile(rb'"seq"\s*:\s*(\d+)')


@dataclass
class ProbeRecords:
    # (time seen, entry time ms, seq, {sym: mark} of the holdings whose mark changed)
    snapshots: list[tuple[float, int, int, dict[str, float]]] = field(default_factory=list)
    # per file: (time seen, seq)
    files: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _file_seq(path: Path) -> int | None:
    with open(path, "rb") as fh:
        head = fh.read(256)
        m = _SEQ.search(head)
        if m:
            return int(m.group(1))
        return orjson.loads(head + fh.read()).get("seq")


def _follow_stream(url: str, stream: str, stop: threading.Event, out: ProbeRecords, ready: threading.Event) -> None:
    r = redis.Redis.from_url(url, socket_timeout=5)
    last = r.xrevrange(stream, count=1)
    last_id = last[0][0] if last else b"0-0"
    marks: dict[str, float] = {}
    ready.set()
    while not stop.is_set():
        reply = r.xread({stream: last_id}, count=1000, block=BLOCK_MS)
        seen = time.time()
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                last_id = entry_id
                doc = orjson.loads(fields[b"snapshot"])
                changed = {}
                for sym, holding in doc["aum"]["offexchange"].items():
                    mark = holding.get("mark")
                    if mark is not None and marks.get(sym) != mark:
                        changed[sym] = marks[sym] = mark
                out.snapshots.append((seen, int(entry_id.split(b"-")[0]), doc["seq"], changed))


def _poll_files(paths: list[Path], stop: threading.Event, out: ProbeRecords) -> None:
    stamps: dict[Path, tuple[int, int]] = {}
    for path in paths:
        out.files[str(path)] = []
        try:
            st = os.stat(path)
            stamps[path] = (st.st_ino, st.st_mtime_ns)
        except FileNotFoundError:
            stamps[path] = (0, 0)
    while not stop.is_set():
        for path in paths:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            stamp = (st.st_ino, st.st_mtime_ns)
            if stamp == stamps[path]:
                continue
            seen = time.time()
            stamps[path] = stamp
            try:
                seq = _file_seq(path)
            except (FileNotFoundError, orjson.JSONDecodeError) as exc:  # replaced again while we read it
                out.errors.append(f"{path}: {exc}")
                continue
            if seq is not None:
                out.files[str(path)].append((seen, seq))
        time.sleep(POLL_S)


def main(argv: list[str]) -> int:
    """`python -m benchmarks.probe URL STREAM [FILE...]`: prints "ready", records until a line on stdin,
    then prints the records as one JSON document."""
    url, stream, paths = argv[0], argv[1], argv[2:]
    out = ProbeRecords()
    stop = threading.Event()
    ready = threading.Event()
    threads = [threading.Thread(target=_follow_stream, args=(url, stream, stop, out, ready), daemon=True),
               threading.Thread(target=_poll_files, args=([Path(p) for p in paths], stop, out), daemon=True)]
    for t in threads:
        t.start()
    if not ready.wait(10):
        print(f"bench probe: could not read {stream} at {url} within 10 s", file=sys.stderr)
        return 1
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.readline()
    stop.set()
    for t in threads:
        t.join(5)
    sys.stdout.buffer.write(orjson.dumps(asdict(out)) + b"\n")
    sys.stdout.flush()
    return 0


class Probe:
    """Start with `start()`, collect with `stop()`; the probe is a child process talking over stdin/stdout."""

    def __init__(self, url: str, stream: str, files: list[Path]) -> None:
        self.args = [sys.executable, "-m", "benchmarks.probe", url, stream, *(str(f) for f in files)]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Probe:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self._readline(timeout)
        if line.strip() != b"ready":
            self.proc.kill()
            raise RuntimeError(f"bench probe did not start (said {line!r}, exit code {self.proc.poll()})")
        return self

    def stop(self, timeout: float = 30.0) -> ProbeRecords:
        assert self.proc is not None
        self.proc.stdin.write(b"stop\n")
        self.proc.stdin.flush()
        line = self._readline(timeout)
        self.proc.wait(5)
        if not line:
            raise RuntimeError(f"bench probe exited with code {self.proc.returncode} without reporting")
        doc = orjson.loads(line)
        return ProbeRecords([tuple(s) for s in doc["snapshots"]],
                            {k: [tuple(v) for v in vs] for k, vs in doc["files"].items()}, doc["errors"])

    def _readline(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.proc.kill()
            raise RuntimeError(f"bench probe did not answer within {timeout:g} s")
        return self.proc.stdout.readline()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Latency at a fixed offered load: price XADD -> snapshot on hedge:nav -> nav.json on disk.

The load is paced, not bursty: `rate` updates/s as rounds of `round_size` asset prices
every round_size/rate seconds (pricer publish_round each time), cycling through all N
holdings, so with N = 1,000 at 1,000 updates/s every asset is repriced once a second.
Every update carries a unique, per-asset increasing price; an update is "on hedge:nav"
when the probe first sees a snapshot whose mark for that asset is >= the price, and "in
nav.json" when the probe first sees a nav.json whose seq is >= that snapshot's seq.
Latency starts when publish_round is called for the update's round (its pipeline carries
the XADD), so it includes the pricer's own publish.
"""

from __future__ import annotations

import bisect
import time
from pathlib import Path

from shared.keys import Keys

from benchmarks.feed import PricerFeed
from benchmarks.probe import POLL_S, Probe, ProbeRecords
from benchmarks.rig import Rig
from benchmarks.stats import summary
from benchmarks.synthetic import RoundMaker

KEYS = Keys()
FILES_SETTLE_S = 0.3


def _reflected(records: ProbeRecords) -> dict[str, tuple[list[float], list[float], list[int]]]:
    """sym -> (marks, times seen, seqs) in arrival order (marks increase per sym)."""
    out: dict[str, tuple[list[float], list[float], list[int]]] = {}
    for seen, _entry_ms, seq, changed in records.snapshots:
        for sym, mark in changed.items():
            marks, times, seqs = out.setdefault(sym, ([], [], []))
            marks.append(mark)
            times.append(seen)
            seqs.append(seq)
    return out


def _file_latency(sent_seq: list[tuple[float, int]], seen: list[tuple[float, int]]) -> tuple[list[float], int]:
    """Per update (sent at t, first on hedge:nav in snapshot seq S): ms until a file with seq >= S appeared."""
    seqs = [s for _, s in seen]
    out, missed = [], 0
    for t, seq in sent_seq:
        i = bisect.bisect_left(seqs, seq)
        if i == len(seqs):
            missed += 1
        else:
            out.append((seen[i][0] - t) * 1000.0)
    return out, missed


def _offer(feed: PricerFeed, maker: RoundMaker, *, rate: float, round_size: int,
           duration_s: float) -> tuple[list[tuple[str, float, float]], list[float], float]:
    """Paced partial rounds: (sym, px, publish time) per update, pacing lateness (ms), seconds."""
    sent: list[tuple[str, float, float]] = []
    lateness: list[float] = []
    interval = round_size / rate
    assets, i = maker.assets, 0
    start = time.monotonic()
    due = start
    while due - start < duration_s:
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        lateness.append((time.monotonic() - due) * 1000.0)
        result = maker.partial_round([assets[(i + k) % len(assets)] for k in range(round_size)], extras=False)
        i += round_size
        t_call = time.time()
        feed.publish_partial(result)
        sent.extend((obs.sym, obs.px, t_call) for obs in result.prices)
        due += interval
    return sent, lateness, time.monotonic() - start


def _match_stream(sent: list[tuple[str, float, float]],
                  records: ProbeRecords) -> tuple[list[float], list[tuple[float, int]], int]:
    """Per update: ms until the first snapshot reflecting it, and (publish time, that snapshot's seq)."""
    by_sym = _reflected(records)
    to_stream: list[float] = []
    sent_seq: list[tuple[float, int]] = []
    missed = 0
    for sym, px, t in sent:
        marks, times, seqs = by_sym.get(sym, ([], [], []))
        j = bisect.bisect_left(marks, px)
        if j == len(marks):
            missed += 1
            continue
        to_stream.append((times[j] - t) * 1000.0)
        sent_seq.append((t, seqs[j]))
    return to_stream, sent_seq, missed


def run_latency(rig: Rig, feed: PricerFeed, maker: RoundMaker, *, rate: float, round_size: int,
                duration_s: float, files: dict[str, Path]) -> dict:
    """See the module docstring; `files` names the state files to watch (must include "nav_json")."""
    feed.publish(maker.full_round(feed.tracked))   # every asset priced before the clock starts
    rig.wait_drained()
    rig.publisher_drained()
    probe = Probe(rig.redis.url, KEYS.nav, list(files.values())).start()
    counts0, cpu0 = rig.counters(), rig.cpu_s()
    try:
        sent, lateness, elapsed = _offer(feed, maker, rate=rate, round_size=round_size, duration_s=duration_s)
        rig.wait_drained()
        rig.publisher_drained()
        time.sleep(FILES_SETTLE_S)
    finally:
        records = probe.stop()
    counts1, cpu1 = rig.counters(), rig.cpu_s()

    to_stream, sent_seq, missed = _match_stream(sent, records)
    by_file = {name: _file_latency(sent_seq, records.files.get(str(path), [])) for name, path in files.items()}
    snapshots = counts1["snapshots_added"] - counts0["snapshots_added"]
    nav_files = len(records.files.get(str(files["nav_json"]), []))
    cpu = {name: cpu1[name] - cpu0[name] for name in cpu1 if name in cpu0}
    return {
        "offered_per_s": rate,
        "achieved_per_s": round(len(sent) / elapsed, 1),
        "round_size": round_size,
        "instruments": len(maker.assets),
        "seconds": round(elapsed, 2),
        "updates": len(sent),
        "not_seen_on_nav": missed,
        "snapshots": snapshots,
        "updates_per_snapshot": round(len(sent) / snapshots, 1) if snapshots else None,
        "nav_json_writes": nav_files,
        "nav_cpu_ms_per_snapshot": round(cpu["nav"] * 1000 / snapshots, 2) if snapshots else None,
        "publisher_cpu_ms_per_nav_json": round(cpu["publisher"] * 1000 / nav_files, 2) if nav_files else None,
        "cpu_utilisation": {name: round(v / elapsed, 3) for name, v in cpu.items()},
        "pacing_lateness_ms": summary(lateness),
        "to_nav_stream_ms": summary(to_stream),
        **{f"to_{name}_ms": summary(lat) | {"not_seen": miss} for name, (lat, miss) in by_file.items()},
        "file_method": f"os.stat poll every {POLL_S * 1000:g} ms in a separate process (inode/mtime change, then seq)",
        "probe_errors": records.errors[:5],
    }

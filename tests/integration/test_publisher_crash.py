"""The publisher killed at the worst moments: readers never see half a file, no acked snapshot is lost."""

from __future__ import annotations

import json
import threading
import time


from shared.keys import Keys
from shared.contracts.history import decode_history_point
from tests.integration.test_publisher import (
    committed_seq,
    counter,
    dirs,
    pending,
    publish,
    published_seq,
    read_json,
    start,
    started,
    wait_seq,
)
from tests.support import eventually
from tests.documents import make_snapshot, nav_entry

K = Keys()


class Feeder(threading.Thread):
    """XADDs one snapshot every `pause_s`, seq 1, 2, ... until stopped."""

    def __init__(self, r, pause_s: float) -> None:
        super().__init__(daemon=True)
        self.r, self.pause_s = r, pause_s
        self.seq = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.seq += 1
            self.r.xadd(K.nav, nav_entry(make_snapshot(self.seq, marks={"BTCUSDT": 97_000.0 + self.seq % 50})))
            time.sleep(self.pause_s)


class Reader(threading.Thread):
    """Reads the files in turn in a tight loop; records every read that is not a whole nav.v7 document."""

    def __init__(self, *paths) -> None:
        super().__init__(daemon=True)
        self.paths = paths
        self.reads = 0
        self.seqs: set[int] = set()
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            raw = self.paths[self.reads % len(self.paths)].read_bytes()
            self.reads += 1
            try:
                doc = json.loads(raw)
                assert doc["schema"] == "nav.v7" and set(doc["aum"]) == {"futures", "offexchange", "total"}
                self.seqs.add(doc["seq"])
            except (ValueError, KeyError, TypeError, AssertionError) as exc:
                self.failures.append(f"{exc!r}: {raw[:80]!r}...{raw[-40:]!r} ({len(raw)} bytes)")


def test_readers_never_see_a_partial_file_while_the_publisher_is_killed_and_restarted(services, env, r):
    proc = started(services, env, r)
    feeder = Feeder(r, pause_s=0.002)
    feeder.start()
    state, dash = dirs(env)
    eventually(lambda: (dash / "nav.json").exists(), message="the first nav.json")
    reader = Reader(state / "nav.json", dash / "nav.json")
    reader.start()
    batches = 0
    try:
        for _ in range(3):
            eventually(lambda: counter(r, "file_writes") >= 80, timeout=20, interval=0.05,
                       message="the publisher to rewrite the files 80 times")
            batches += counter(r, "file_writes")
            proc.kill()                                   # SIGKILL: most of a batch's time is spent writing
            r.delete(K.health("publisher"))
            proc = start(services, env)
        feeder.halt.set()
        feeder.join()
        wait_seq(r, feeder.seq, timeout=15)             # the newest snapshot wins in the end
        batches += eventually(lambda: counter(r, "file_writes"), message="the last incarnation's count")
    finally:
        feeder.halt.set()
        reader.halt.set()
        reader.join()
    assert reader.failures == [], reader.failures[:3]
    assert reader.reads > 1000 and len(reader.seqs) > 100, (reader.reads, len(reader.seqs))
    # >= 240 batches, each replacing nav.json, positions.json and kpis_v7.json in both folders
    assert batches * 6 >= 1440, batches
    eventually(lambda: pending(r) == 0, message="every entry acknowledged")


def test_killed_between_read_and_ack_the_pending_snapshot_is_published_after_restart(services, env, r):
    proc = started(services, env, r)
    publish(r, make_snapshot(1, nav_total=100_000.0))
    wait_seq(r, 1)
    proc.stop()

    # The test hook holds the next batch after its files are written, before the commit and the ack.
    proc = start(services, env, test_pause_before_ack_s=60)
    entry_id = publish(r, make_snapshot(2, nav_total=101_000.0)).decode()
    eventually(lambda: "pausing 60.0 s before the Redis commit and the acks" in proc.log_text(), timeout=15,
               message="the publisher to hold the batch")
    assert published_seq(env) == 2                       # files first ...
    assert committed_seq(r) == 1                         # ... then the keys, in the commit
    assert r.hget(K.kpi_state, "peak_nav") == b"100000.0"
    assert pending(r) == 1
    assert r.xpending_range(K.nav, "publisher", "-", "+", 10)[0]["message_id"].decode() == entry_id
    proc.kill()

    proc = start(services, env)
    wait_seq(r, 2, timeout=15)                           # redone after the restart
    assert r.hget(K.kpi_state, "peak_nav") == b"101000.0"
    assert read_json(dirs(env)[1] / "nav.json")["seq"] == 2
    assert read_json(dirs(env)[0] / "kpis_v7.json")["drawdown"]["peak_nav"] == 101_000.0
    assert pending(r) == 0
    assert [p["nav_total"] for p in map(decode_history_point, (f for _, f in r.xrange(K.nav_history)))] == \
        [100_000.0]                                      # seq 2 is in the same minute: no second point
    assert f"recovered 1 pending entries on {K.nav}" in proc.log_text()

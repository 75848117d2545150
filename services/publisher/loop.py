"""The publisher's loop: read a batch, publish the newest snapshot and the KPIs, then ack.

Order per batch (the durability rule of docs/architecture.md): files first (nav.json as soon as the
newest snapshot is checked, then positions.json and kpis_v7.json, then one fsync per
folder), then one MULTI with the state keys, the history point, new bars, the KPI state
and the XACKs. A crash anywhere before EXEC leaves the entries pending; the restart
reclaims and redoes them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from shared.backoff import Episode
from shared.contracts.kpis import validate_kpis_document
from shared.contracts.vocabulary import KPIS_FILE, NAV_FILE, POSITIONS_FILE
from shared.errors import ContractError
from shared.keys import GROUP_PUBLISHER
from shared.metrics import ERRORS, STATE_WRITES, record_drawdown
from shared.redis_io import Entry, GroupReader
from shared.service import ServiceContext

from services.publisher.config import PublisherSettings
from services.publisher.files import StateFileBatch, state_dirs
from services.publisher.publication import Publication, markets_needed, plan_publication
from services.publisher.snapshot import AcceptedSnapshot, accept_snapshot, entry_seq, read_snapshot
from services.publisher.store import (
    Bounds,
    FillWindow,
    commit,
    load_batch_inputs,
    load_published_snapshot,
)


class PublisherLoop:
    """The `Loop` of run_service: state that must outlive a Redis outage lives here, the rest in Redis."""

    def __init__(self, ctx: ServiceContext, cfg: PublisherSettings) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.kpi_cfg = cfg.kpi_config()
        self.keys = ctx.keys
        self.log = ctx.log
        self.hb = ctx.heartbeat
        self.reader = GroupReader(ctx.r, [self.keys.nav, self.keys.fills], GROUP_PUBLISHER, cfg.consumer,
                                  count=cfg.batch_size, claim_idle_ms=cfg.claim_idle_ms)
        self.fills = FillWindow(ctx.r, self.keys.fills, cfg.fills_window_s, cfg.fills_max)
        self.dirs = state_dirs(ctx.settings.state_dir, ctx.settings.dashboard_state_dir)
        self.bounds = Bounds(cfg.history_maxlen, cfg.bars_maxlen)
        self.file_trouble = Episode(self.log, "writing state files")
        self.published: dict | None = None    # the snapshot in nav.json / hedge:state:nav

    # --- Loop protocol ----------------------------------------------------------------
    def setup(self) -> None:
        self.reader.setup()
        self.fills.reload(time.time())
        self.published = load_published_snapshot(self.ctx.r, self.keys)
        self.log.info("publishing to %s; %d fills in the %.0f s KPI window",
                      ", ".join(str(d) for d in self.dirs), len(self.fills.entries), self.cfg.fills_window_s)

    def step(self) -> None:
        batch = self.reader.read()
        if not batch:
            return
        nav_entries = [e for stream, es in batch if stream == self.keys.nav for e in es]
        fill_ids = [eid for stream, es in batch if stream == self.keys.fills for eid, _ in es]

        newest, older = self._newest(nav_entries)
        files = StateFileBatch(self.dirs)
        if newest is not None:   # nav.json first: readers wait for it, and it needs nothing else
            files.put({NAV_FILE: newest.doc})
        accepted = self._accepted(older, newest)
        pub = self._plan(accepted) if (accepted or fill_ids) else None
        write_kpis = pub is not None and self._kpis_valid(pub)
        if pub is not None:
            self._write_files(files, pub, write_kpis)
        acks = {self.keys.nav: [eid for eid, _ in nav_entries], self.keys.fills: fill_ids}
        self._test_pause(len(nav_entries) + len(fill_ids))
        commit(self.ctx.r, self.keys, self.reader, pub, acks, bounds=self.bounds, write_kpis=write_kpis)
        self._committed(pub, accepted, len(nav_entries), len(fill_ids))
        if pub is not None and write_kpis:
            dd = pub.kpis_doc["drawdown"]
            record_drawdown(dd["dd_pct"], dd["dd_state"], dd["peak_nav"])

    def close(self) -> None:
        """Nothing of its own to release: the Redis client belongs to the service context."""

    # --- steps ------------------------------------------------------------------------
    def _newest(self, entries: Sequence[Entry]) -> tuple[AcceptedSnapshot | None, Sequence[Entry]]:
        """The newest snapshot that passes the whole nav.v7 check (the one to publish) and the entries
        before it; newer entries that fail are rejected."""
        for i in range(len(entries) - 1, -1, -1):
            entry_id, fields = entries[i]
            try:
                return accept_snapshot(entry_id.decode(), fields), entries[:i]
            except ContractError as exc:
                self._reject(entry_id.decode(), fields, exc)
        return None, ()

    def _accepted(self, older: Sequence[Entry], newest: AcceptedSnapshot | None) -> list[AcceptedSnapshot]:
        """The batch's usable snapshots in stream order. The older ones are coalesced: they feed only
        the bars, so only the fields the bars read are checked (read_snapshot)."""
        accepted = []
        for entry_id, fields in older:
            try:
                accepted.append(read_snapshot(entry_id.decode(), fields))
            except ContractError as exc:
                self._reject(entry_id.decode(), fields, exc)
        if newest is not None:
            accepted.append(newest)
        for snap in accepted:
            if snap.repaired:
                self.log.warning("nav snapshot seq %s (entry %s) has no aum block; publishing the stable "
                                 "shape {futures: nav_total, offexchange: {}, total: nav_total} instead",
                                 snap.seq, snap.entry_id)
                self.hb.count("aum_guard_repairs")
        return accepted

    def _reject(self, entry_id: str, fields: Mapping, exc: ContractError) -> None:
        self._error("snapshots_rejected", f"{self.keys.nav} entry {entry_id} (seq {entry_seq(fields)}): "
                    f"{exc}; skipped it and acknowledged it so it cannot block the group; "
                    f"nothing is published from it")

    def _plan(self, accepted: list[AcceptedSnapshot]) -> Publication:
        now = time.time()
        inputs = load_batch_inputs(self.ctx.r, self.keys, markets_needed(accepted, self.published),
                                   self.cfg.atr_period + 1)
        for problem in inputs.problems:
            self.log.warning("%s; left it out of the KPIs", problem)
        self.fills.refresh(now)
        return plan_publication(accepted=accepted, reference=self.published, state=inputs.state,
                                closed_bars=inputs.closed_bars, fills=self.fills.totals, now=now,
                                cfg=self.kpi_cfg, transfers_usd=inputs.transfers_usd)

    def _kpis_valid(self, pub: Publication) -> bool:
        try:
            validate_kpis_document(pub.kpis_doc)
        except ContractError as exc:
            self._error("kpis_invalid", f"computed KPIs break their contract ({exc}); kpis_v7.json and "
                                        f"{self.keys.state_kpis} keep the previous KPIs")
            return False
        return True

    def _write_files(self, files: StateFileBatch, pub: Publication, write_kpis: bool) -> None:
        """The batch's other files beside its nav.json (already put), then the folder fsyncs."""
        docs = {}
        if pub.nav_doc is not None:
            docs[POSITIONS_FILE] = pub.positions_doc
        if write_kpis:
            docs[KPIS_FILE] = pub.kpis_doc
        files.put(docs)
        if not (files.written or files.errors):
            return
        errors = files.finish()
        STATE_WRITES.labels(result="ok").inc(files.written)
        for message in errors:
            self.hb.error(message)
        if errors:
            STATE_WRITES.labels(result="error").inc(len(errors))
            self.hb.count("file_write_errors", len(errors))
            self.hb.status = "degraded"
            self.file_trouble.failed("; ".join(errors), "Redis state keys are still updated")
        else:
            self.hb.count("file_writes")
            self.hb.status = "ok"
            self.file_trouble.recovered()

    def _committed(self, pub: Publication | None, accepted: list[AcceptedSnapshot],
                   n_nav: int, n_fills: int) -> None:
        self.hb.count("batches")
        self.hb.count("snapshots_received", n_nav)
        self.hb.count("fills_received", n_fills)
        if accepted:
            newest = accepted[-1]
            self.published = newest.doc
            self.hb.count("snapshots_published")
            self.hb.count("snapshots_coalesced", len(accepted) - 1)
            self.hb.gauges["last_seq"] = newest.seq
            self.hb.gauges["last_snapshot_ts"] = newest.ts
        if pub is not None and pub.history_point is not None:
            self.hb.count("history_points")
        self.hb.gauges["fills_in_window"] = len(self.fills.entries)
        self.hb.gauges["fills_window_truncated"] = self.fills.truncated
        self.hb.gauges["fills_rejected"] = self.fills.rejected

    def _error(self, counter: str, message: str) -> None:
        """Log, count and show in the heartbeat an error the loop handled."""
        self.log.error(message)
        self.hb.error(message)
        self.hb.count(counter)
        ERRORS.labels(service="publisher", kind=counter).inc()

    def _test_pause(self, n_entries: int) -> None:
        pause = self.cfg.test_pause_before_ack_s
        if pause > 0:
            self.log.warning("test hook PUBLISHER_TEST_PAUSE_BEFORE_ACK_S: files of %d entries written; "
                             "pausing %.1f s before the Redis commit and the acks", n_entries, pause)
            self.ctx.stop.wait(pause)

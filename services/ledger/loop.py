"""The ledger's loop: read hedge:nav and hedge:income, commit them to the record, then ack.

Per batch, one database transaction: income records (and transfer flows), the fund's
inception on its first usable snapshot, each change of an off-exchange holding's quantity
(services.ledger.record, "off-exchange holdings"), one history row per LEDGER_HISTORY_INTERVAL_S.
Only after COMMIT are the entries acknowledged; if the database is down the batch is kept
and retried (nothing acked), and a crash before the ack leaves the entries pending for the
restart to reclaim, where the unique keys make the replay add nothing. Strikes are proposed
when due (and on start, marked late, when one was missed).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from shared.backoff import Backoff, Episode
from shared.contracts.income import IncomeRecord, decode_income
from shared.contracts.nav import decode_nav_entry
from shared.errors import ContractError
from shared.keys import GROUP_LEDGER
from shared.logs import add_secrets
from shared.metrics import ERRORS, LEDGER_ROWS, STRIKE_HELD, UNIT_PRICE, set_gauge
from shared.redis_io import Entry, GroupReader
from shared.service import ServiceContext

from services.ledger import record, store
from services.ledger.config import LedgerSettings
from services.ledger.db import DatabaseUnavailable, open_database, upgrade
from services.ledger.holdings import Holding
from services.ledger.perfstate import publish_performance
from services.ledger.strike import HELD, LOCKED, due_label
from services.ledger.strikes import BACKFILL_PER_CALL, StrikeRefused, propose_due_strikes

RECENT_SNAPSHOTS = 600
NOTHING_WRITTEN = {"income": 0, "transfers": 0, "nav_history": 0, "partial_skipped": 0, "holding_changes": 0}


@dataclass
class Batch:
    """One read, parsed: what to commit and what to ack."""

    income: list[tuple[str, IncomeRecord]] = field(default_factory=list)
    snapshots: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    acks: dict[str, list[bytes]] = field(default_factory=dict)
    # the usable snapshots (record.valuation_of not None) in time order, valued once by _parse
    valued: list[tuple[str, dict[str, Any], record.Valuation]] = field(default_factory=list)

    @property
    def partial(self) -> int:
        """Snapshots that must not move the record (partial, startup, no positive aum.total)."""
        return len(self.snapshots) - len(self.valued)

    @property
    def size(self) -> int:
        return sum(len(ids) for ids in self.acks.values())


class LedgerLoop:
    def __init__(self, ctx: ServiceContext, cfg: LedgerSettings) -> None:
        self.ctx = ctx
        self.cfg = cfg
        self.keys = ctx.keys
        self.log = ctx.log
        self.hb = ctx.heartbeat
        add_secrets(cfg.secret_values())          # a driver message never shows the database password
        self.engine = open_database(cfg.database_url)
        self.reader = GroupReader(ctx.r, [self.keys.income, self.keys.nav], GROUP_LEDGER, cfg.consumer,
                                  count=cfg.batch_size, claim_idle_ms=cfg.claim_idle_ms)
        self.db_trouble = Episode(self.log, f"database {cfg.redacted_database_url()}")
        self.db_backoff = Backoff(base_s=0.5, cap_s=5.0)
        self.migrated = False
        self.retry: Batch | None = None           # read but not committed: the database was down
        self.recent: deque[tuple[float, float]] = deque(maxlen=RECENT_SNAPSHOTS)
        self.latest: dict[str, Any] | None = None    # newest usable snapshot, for strikes and prices
        self.last_bucket: int | None = None
        self.saved_holdings: dict[str, Holding] | None = None   # as in the record; None: unknown, write to learn
        self.strike_checked: str | None = None
        self.transfers_usd: float | None = None
        self.performance_doc: dict[str, Any] | None = None

    # --- Loop protocol ----------------------------------------------------------------
    def setup(self) -> None:
        self.reader.setup()
        self.strike_checked = None

    def step(self) -> None:
        if not self._database_ready():
            return
        batch = self.retry or self._parse(self.reader.read())
        if batch.size and self.retry is None and self._writes_nothing(batch):
            self._ack(batch)             # nothing for the record: no transaction, no fsync (the ledger at rest)
            self.hb.count("batches_without_writes")
            self._committed(batch, {**NOTHING_WRITTEN, "partial_skipped": batch.partial}, self.transfers_usd)
        elif batch.size:
            if not self._commit(batch):
                self.retry = batch
                return
            self.retry = None
            self._test_pause(batch.size)
            self._ack(batch)
        self._maybe_strike(time.time(), self._strike_candidates(batch))

    def close(self) -> None:
        self.engine.dispose()

    # --- database -----------------------------------------------------------------------
    def _database_ready(self) -> bool:
        if self.migrated:
            return True
        try:
            revision = upgrade(self.engine)
            with self.engine.connect() as conn:
                self.last_bucket = store.last_bucket(conn, self.cfg.fund_id)
                self.saved_holdings = store.seeded_holdings(conn, self.cfg.fund_id)
        except DatabaseUnavailable as exc:
            self._db_failed(exc, "migrating when it answers")
            return False
        self.migrated = True
        self.db_trouble.recovered()
        self.log.info("record in %s at schema revision %s (fund %r)", self.cfg.redacted_database_url(), revision,
                      self.cfg.fund_id)
        return True

    def _db_failed(self, exc: BaseException, action: str) -> None:
        message = str(exc).splitlines()[0][:300]
        self.db_trouble.failed(message, action)
        self.hb.error(f"database unavailable: {message}")
        self.hb.status = "degraded"
        ERRORS.labels(service="ledger", kind="database_unavailable").inc()
        self.ctx.stop.wait(self.db_backoff.next_delay())

    def _writes_nothing(self, batch: Batch) -> bool:
        """Snapshots only, none starting a history bucket or moving an off-exchange quantity: what the
        record would do with them is nothing (most batches: snapshots come every second or so, rows
        once a minute)."""
        if batch.income or self.saved_holdings is None or self.last_bucket is None:
            return False
        return all(int(val.ts // self.cfg.history_interval_s) <= self.last_bucket
                   and record.quantities_unchanged(self.saved_holdings, val) for _eid, _doc, val in batch.valued)

    def _commit(self, batch: Batch) -> bool:
        self.saved_holdings = None      # unknown until the transaction has committed
        try:
            with self.engine.begin() as conn:
                written = self._apply(conn, batch)
                transfers = store.net_transfers_usd(conn, self.cfg.fund_id)
                saved = store.seeded_holdings(conn, self.cfg.fund_id)
        except DatabaseUnavailable as exc:
            self._db_failed(exc, f"keeping {batch.size} entries unacknowledged and retrying")
            return False
        self.db_backoff.reset()
        self.saved_holdings = saved
        if self.db_trouble.active:
            self.db_trouble.recovered()
            self.hb.status = "ok"
        self._committed(batch, written, transfers)
        return True

    def _apply(self, conn: sa.Connection, batch: Batch) -> dict[str, int]:
        """The batch in time order: each transfer is priced at the snapshot just before it."""
        written = {**NOTHING_WRITTEN, "partial_skipped": batch.partial}
        if batch.valued:
            record.ensure_inception(conn, self.cfg, batch.valued[0][2])
        fund = store.get_fund(conn, self.cfg.fund_id)
        store.lock_fund(conn, self.cfg.fund_id)
        inception_ts = fund["inception_ts"] if fund is not None else None
        prices = self._transfer_prices(batch)
        recent = list(self.recent)
        events: list[tuple[float, int, Any]] = [(rec.ts, 0, (eid, rec)) for eid, rec in batch.income]
        events += [(val.ts, 1, (eid, val)) for eid, _doc, val in batch.valued]
        for _ts, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:
                self._apply_income(conn, item, prices, recent, inception_ts=inception_ts, written=written)
            else:
                self._apply_valuation(conn, item, recent, written)
        return written

    def _apply_income(self, conn: sa.Connection, item: tuple[str, IncomeRecord], prices: dict[str, float],
                      recent: list[tuple[float, float]], *, inception_ts: float | None,
                      written: dict[str, int]) -> None:
        eid, rec = item
        as_flow = inception_ts is not None and rec.ts > inception_ts   # earlier transfers are in the inception AUM
        inserted, made = record.record_income(conn, self.cfg, [(eid, rec)], prices if as_flow else {},
                                              recent=recent, make_flows=as_flow)
        written["income"] += inserted
        written["transfers"] += made

    def _apply_valuation(self, conn: sa.Connection, item: tuple[str, record.Valuation],
                         recent: list[tuple[float, float]], written: dict[str, int]) -> None:
        eid, val = item
        bucket = int(val.ts // self.cfg.history_interval_s)
        new_bucket = self.last_bucket is None or bucket > self.last_bucket
        written["holding_changes"] += record.record_holdings(conn, self.cfg, val, eid, recent,   # before its row
                                                             refresh_marks=new_bucket)
        recent.append((val.ts, val.aum_total))
        if new_bucket and record.record_history(conn, self.cfg, val, eid):
            written["nav_history"] += 1
            self.last_bucket = bucket

    def _transfer_prices(self, batch: Batch) -> dict[str, float]:
        source = self._price_source(batch)
        return {rec.asset: px for _, rec in batch.income
                if (px := record.transfer_usd_price(rec.asset, source)) is not None}

    def _price_source(self, batch: Batch) -> dict[str, Any] | None:
        return batch.valued[-1][1] if batch.valued else self.latest

    def _committed(self, batch: Batch, written: dict[str, int], transfers: float | None) -> None:
        for _eid, doc, val in batch.valued:
            self.recent.append((val.ts, val.aum_total))
            self.latest = doc
        for table in ("income", "nav_history"):
            LEDGER_ROWS.labels(table=table).inc(written[table])
            self.hb.count(f"{table}_rows", written[table])
        self.hb.count("transfer_flows", written["transfers"])
        self.hb.count("holding_changes", written["holding_changes"])
        self.hb.count("partial_snapshots_skipped", written["partial_skipped"])
        self.hb.count("batches")
        if transfers is not None:
            self.transfers_usd = transfers
        if written["nav_history"]:
            self._publish_performance()

    def _publish_performance(self) -> None:
        try:
            doc = publish_performance(self.engine, self.cfg, self.ctx.settings.state_dir)
        except DatabaseUnavailable as exc:
            self._db_failed(exc, "performance.json keeps its last figures")
            return
        except OSError as exc:
            self.hb.error(f"writing performance.json: {exc}")
            return
        self.performance_doc = doc
        set_gauge(UNIT_PRICE, doc["unit_price"])
        # from the record, so a strike approved with `navstream strike approve` clears it too
        STRIKE_HELD.set(1 if (doc.get("last_strike") or {}).get("state") == HELD else 0)
        self.hb.gauges["unit_price"] = doc["unit_price"]

    # --- Redis side -------------------------------------------------------------------
    def _parse(self, read: Sequence[tuple[str, list[Entry]]]) -> Batch:
        batch = Batch()
        for stream, entries in read:
            batch.acks[stream] = [eid for eid, _ in entries]
            for eid, fields in entries:
                self._parse_entry(batch, stream, eid.decode(), fields)
        batch.snapshots.sort(key=lambda e: e[1].get("ts") or 0)
        batch.valued = [(eid, doc, val) for eid, doc in batch.snapshots
                        if (val := record.valuation_of(doc)) is not None]
        return batch

    def _parse_entry(self, batch: Batch, stream: str, eid: str, fields: dict) -> None:
        try:
            if stream == self.keys.income:
                batch.income.append((eid, decode_income(fields)))
            else:
                batch.snapshots.append((eid, decode_nav_entry(fields)))
        except ContractError as exc:
            message = f"{stream} entry {eid}: {exc}; skipped and acknowledged, nothing recorded from it"
            self.log.error(message)
            self.hb.error(message)
            self.hb.count("entries_rejected")
            ERRORS.labels(service="ledger", kind="entry_rejected").inc()

    def _ack(self, batch: Batch) -> None:
        pipe = self.ctx.r.pipeline(transaction=True)
        for stream, ids in batch.acks.items():
            self.reader.ack(pipe, stream, ids)
        if self.transfers_usd is not None:
            pipe.set(self.keys.ledger_transfers, repr(self.transfers_usd))
        doc = self.performance_doc
        if doc is not None:
            pipe.set(self.keys.state_performance, orjson.dumps(doc))
        pipe.execute()

    def _test_pause(self, n: int) -> None:
        if self.cfg.test_pause_before_ack_s > 0:
            self.log.warning("test hook LEDGER_TEST_PAUSE_BEFORE_ACK_S: %d entries committed; pausing %.1f s "
                             "before the acks", n, self.cfg.test_pause_before_ack_s)
            self.ctx.stop.wait(self.cfg.test_pause_before_ack_s)

    # --- strikes ----------------------------------------------------------------------
    def _strike_candidates(self, batch: Batch) -> list[dict[str, Any]]:
        """The usable snapshots a due strike may be valued from: the batch's, else the newest."""
        docs = [doc for _eid, doc, _val in batch.valued]
        return docs or ([self.latest] if self.latest is not None else [])

    def _maybe_strike(self, now: float, candidates: list[dict[str, Any]]) -> None:
        """Propose what is due by the snapshots' time: once per due label, again while a backlog remains."""
        if not candidates:
            return
        label = due_label(min(now, candidates[-1]["ts"]), self.cfg.strike_time, self.cfg.strike_every_s)
        if label == self.strike_checked:
            return
        try:
            with self.engine.begin() as conn:
                rows = propose_due_strikes(conn, self.cfg, candidates, now)
        except StrikeRefused as exc:
            self.log.warning("%s", exc)
            return
        except DatabaseUnavailable as exc:
            self._db_failed(exc, "proposing the strike when it answers")
            return
        for row in rows:
            self._strike_proposed(row)
        if rows:
            self._publish_performance()
        if len(rows) < BACKFILL_PER_CALL:
            self.strike_checked = label

    def _strike_proposed(self, row: dict[str, Any]) -> None:
        late = " (late: missed while the ledger was down)" if row["late"] else ""
        if row["state"] == LOCKED:
            self.log.info("strike %s locked%s: unit price %.6f, hash %s", row["strike_date"], late,
                          row["unit_price"], row["hash"][:12])
        else:
            self.log.warning("strike %s HELD for approval%s: %s (`navstream strike approve %s --note ...`)",
                             row["strike_date"], late, "; ".join(_loads(row["reasons"])), row["strike_date"])
        self.hb.count("strikes_proposed")
        self.hb.gauges["last_strike"] = {"date": row["strike_date"], "state": row["state"]}


def _loads(raw: str) -> list[str]:
    return [str(r) for r in orjson.loads(raw)]

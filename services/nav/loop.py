"""The nav service loop: read price batches, value, publish one snapshot per batch.

Each step reads everything pending on `hedge:prices` (consumer group "nav", up to
MAX_BATCH entries), folds it into the latest-price map, and publishes ONE snapshot for
the whole batch (XADD hedge:nav + SET hedge:nav:seq + XACK, in one MULTI). A snapshot
also goes out after every account poll and at least once per price interval, so
cache-path ages grow visibly even when no prices arrive.
"""

from __future__ import annotations

import math
import socket
import time

from shared.contracts.nav import encode_nav_entry
from shared.contracts.prices import PriceObservation, decode_latest, decode_price
from shared.errors import ContractError
from shared.holdings import HoldingsWatcher
from shared.keys import GROUP_NAV
from shared.metrics import AUM, NAV, NAV_AGE, SNAPSHOT_LATENCY, SNAPSHOTS, set_gauge
from shared.redis_io import Entry, EntryPos, GroupReader, entry_pos
from shared.service import ServiceContext

from services.nav.account import AccountSource, CcxtAccount
from services.nav.guard import publish_problem
from services.nav.manual import decode_manual_nav, manual_from_setting
from services.nav.model import AccountState, ManualNav, limits_for
from services.nav.poller import AccountPoller
from services.nav.valuation import aum_log_line, build_nav_snapshot

MAX_BLOCK_S = 0.25        # how long one read may wait, so a finished account poll publishes promptly
READ_COUNT = 1000         # entries per XREADGROUP; a full read means more are waiting
# Entries one snapshot absorbs at most; the rest wait for the next step. Two full rounds at
# 10,000 instruments, and ~13 MB of parsed replies: a backlog after an outage is read in pieces.
MAX_BATCH = 20_000
LOG_LINE_EVERY_S = 60.0   # the [aum-v7] line at most once a minute, and whenever the assets change


def merge_price(prices: dict[str, PriceObservation], positions: dict[str, EntryPos],
                obs: PriceObservation, pos: EntryPos) -> bool:
    """Keep, per sym, the observation from the newest stream entry; return True if the price changed.

    Order follows the stream, not the observation's `ts`: the pricer decides what is
    current, and a fallback tier's price can legitimately be older than the tier it
    replaces (CoinGecko's last_updated_at vs a cached spot tick). Entry IDs are
    monotonic even when wall clocks jump, and a redelivered entry keeps its ID, so
    replays and duplicates change nothing.
    """
    if pos <= positions.get(obs.sym, (-1, -1)):
        return False
    positions[obs.sym] = pos
    changed = prices.get(obs.sym) != obs
    prices[obs.sym] = obs
    return changed


class NavLoop:
    """One nav service: holdings watcher, account poller thread, price reader, publisher."""

    def __init__(self, ctx: ServiceContext, account: AccountSource | None = None) -> None:
        s = ctx.settings
        self.ctx, self.r, self.keys, self.log = ctx, ctx.r, ctx.keys, ctx.log
        self.settings = s
        self.limits = limits_for(s.price_interval_s, s.account_interval_s, s.source_timeout_s,
                                 s.spot_cache_ttl_s, s.coingecko_ttl_s)
        self.fx_pairs = (f"USD{s.display_currency}",)
        self.reader = GroupReader(self.r, [self.keys.prices], GROUP_NAV, f"nav-{socket.gethostname()}",
                                  count=READ_COUNT, block_ms=int(MAX_BLOCK_S * 1000))
        self.holdings = HoldingsWatcher(s.holdings_file)
        self.account = account or CcxtAccount(s)
        self.poller = AccountPoller(self.account, s.account_interval_s)
        self.setting_manual = manual_from_setting(s.manual_nav, time.time())
        self.prices: dict[str, PriceObservation] = {}
        self.price_pos: dict[str, EntryPos] = {}
        self.seq = 0
        self._published_polls = -1
        self._tracked_dirty = True
        self._last_publish = 0.0     # monotonic
        self._last_log_line = -math.inf   # monotonic
        self._logged_assets: tuple[tuple[str, bool], ...] | None = None
        self._changed = True
        self._manual_key: bytes | None = None
        self._manual_read_at = -math.inf   # monotonic
        self._logged: dict[str, str] = {}

    # --- Loop protocol --------------------------------------------------------------

    def setup(self) -> None:
        self.reader.setup()
        self.seq = max(self.seq, self._stored_seq())
        self._manual_read_at = -math.inf   # Redis may have restarted: read the manual key again now
        self._seed_prices()
        self._tracked_dirty = True
        self._changed = True
        self.poller.start()
        self.log.info("ready: seq=%d, %d prices seeded from %s, account polled every %g s",
                      self.seq, len(self.prices), self.keys.prices_latest, self.settings.account_interval_s)

    def step(self) -> None:
        self._poll_holdings()
        manual, notes = self._manual()
        ids = self._absorb(self._read_pending())
        state = self.poller.state()
        due = time.monotonic() - self._last_publish >= self.settings.price_interval_s
        if ids or due or self._changed or state.polls != self._published_polls:
            self._publish(state, manual, notes, ids)

    def close(self) -> None:
        self.poller.stop()
        self.account.close()

    # --- inputs --------------------------------------------------------------------

    def _block_ms(self) -> int:
        left = self.settings.price_interval_s - (time.monotonic() - self._last_publish)
        return max(0, int(min(left, MAX_BLOCK_S) * 1000))

    def _read_pending(self) -> list[tuple[str, list[Entry]]]:
        """Everything pending on the price stream (up to MAX_BATCH), so that one pricer round,
        however many instruments it prices, becomes one snapshot rather than one per read."""
        batch = self.reader.read(block_ms=self._block_ms())
        got = total = sum(len(entries) for _stream, entries in batch)
        while got >= self.reader.count and total < MAX_BATCH:
            more = self.reader.read(block_ms=0)   # no waiting: only what is already there
            got = sum(len(entries) for _stream, entries in more)
            total += got
            batch.extend(more)
        return batch

    def _stored_seq(self) -> int:
        """The last seq in Redis: the larger of hedge:nav:seq and the last hedge:nav entry's."""
        candidates = [0]
        raw = self.r.get(self.keys.nav_seq)
        if raw is not None:
            candidates.append(self._as_seq(raw, self.keys.nav_seq))
        last = self.r.xrevrange(self.keys.nav, count=1)
        if last:
            candidates.append(self._as_seq(last[0][1].get(b"seq", b""), f"last entry of {self.keys.nav}"))
        return max(candidates)

    def _as_seq(self, raw: bytes, where: str) -> int:
        try:
            return max(0, int(raw))
        except ValueError:
            self.log.warning("%s holds %r, not a sequence number; ignoring it", where, raw)
            return 0

    def _seed_prices(self) -> None:
        # The latest hash reflects the stream up to its newest entry; older pending entries
        # recovered after this must not overwrite it.
        newest = self.r.xrevrange(self.keys.prices, count=1)
        pos = entry_pos(newest[0][0]) if newest else (0, 0)
        self.price_pos.clear()  # after a Redis restart IDs may start lower; the seed is the new baseline
        for sym, raw in self.r.hgetall(self.keys.prices_latest).items():
            try:
                merge_price(self.prices, self.price_pos, decode_latest(sym, raw), pos)
            except ContractError as exc:
                self._log_once("seed", f"{self.keys.prices_latest}: {exc}; skipping it")

    def _absorb(self, batch: list[tuple[str, list[Entry]]]) -> list[bytes]:
        ids: list[bytes] = []
        for _stream, entries in batch:
            for entry_id, fields in entries:
                ids.append(entry_id)
                try:
                    merge_price(self.prices, self.price_pos, decode_price(fields), entry_pos(entry_id))
                except ContractError as exc:
                    message = f"{self.keys.prices} entry {entry_id.decode()}: {exc}; skipping it"
                    self.ctx.heartbeat.count("bad_price_entries")
                    self.ctx.heartbeat.error(message)
                    self._log_once("price", message)
        if ids:
            self.ctx.heartbeat.count("price_entries", len(ids))
            self.ctx.heartbeat.count("price_batches")
        return ids

    def _poll_holdings(self) -> None:
        if not self.holdings.poll():
            return
        self._changed = True
        if self.holdings.error:
            self.log.error("%s", self.holdings.error)
            self.ctx.heartbeat.error(self.holdings.error)
        else:
            self.log.info("holdings file %s loaded: %s", self.holdings.path, sorted(self.holdings.current))

    def _manual(self) -> tuple[ManualNav | None, list[str]]:
        """The active manual NAV (Redis key first, then MANUAL_NAV) and any problem with the key.

        The key is read at most once per price interval, not on every step: at high price
        rates it was one extra round trip per snapshot, and an operator's change still shows
        within the interval, like any other input.
        """
        now = time.monotonic()
        if now - self._manual_read_at >= self.settings.price_interval_s:
            self._manual_read_at = now
            raw = self.r.get(self.keys.nav_manual)
            if raw != self._manual_key:
                self._manual_key, self._changed = raw, True
        raw = self._manual_key
        if raw is None:
            return self.setting_manual, []
        try:
            return decode_manual_nav(raw, self.keys.nav_manual), []
        except ContractError as exc:
            message = f"{exc}; ignoring it"
            self._log_once("manual", message)
            return self.setting_manual, [message]

    def _log_once(self, kind: str, message: str) -> None:
        """Log a problem when it first appears or changes, not every round."""
        if self._logged.get(kind) != message:
            self._logged[kind] = message
            self.log.warning("%s", message)

    # --- output --------------------------------------------------------------------

    def _publish(self, state: AccountState, manual: ManualNav | None, notes: list[str],
                 ids: list[bytes]) -> None:
        doc = build_nav_snapshot(
            account=state, prices=self.prices, holdings=self.holdings.current, now=time.time(),
            seq=self.seq + 1, limits=self.limits, manual=manual, fx_pairs=self.fx_pairs,
            holdings_error=self.holdings.error, notes=notes)
        problem = publish_problem(doc)
        if problem is not None:
            # The core guarantees a valid document (its property tests hold it to the full
            # schema); if it ever does not, publish nothing rather than a wrong number, and ack
            # nothing (the entries stay pending and are re-read after a restart). Wait a round
            # before trying again: no hot loop.
            self._log_once("invalid", f"snapshot seq {doc['seq']} not published, it breaks the contract: "
                                      f"nav snapshot: {problem}")
            self.ctx.heartbeat.error(f"invalid snapshot not published: nav snapshot: {problem}")
            self._last_publish, self._changed, self._published_polls = time.monotonic(), False, state.polls
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.xadd(self.keys.nav, encode_nav_entry(doc), maxlen=self.settings.nav_stream_maxlen,
                  approximate=True)
        pipe.set(self.keys.nav_seq, doc["seq"])
        self.reader.ack(pipe, self.keys.prices, ids)
        write_tracked = state.last_good is not None and (
            self._tracked_dirty or (state.polls != self._published_polls and state.error is None))
        if write_tracked:
            pipe.delete(self.keys.tracked_markets)
            if state.last_good.markets:
                pipe.sadd(self.keys.tracked_markets, *state.last_good.markets)
        pipe.execute()
        self.seq = doc["seq"]
        self._last_publish = time.monotonic()
        self._changed = False
        if write_tracked:
            self._tracked_dirty = False
        if state.polls != self._published_polls and state.error:
            self.ctx.heartbeat.error(f"account: {state.error}")
        self._published_polls = state.polls
        if ids:  # Redis stamped the newest entry of the batch when the pricer added it
            SNAPSHOT_LATENCY.observe(max(0.0, time.time() - entry_pos(ids[-1])[0] / 1000))
        self._report(doc)

    def _report(self, doc: dict) -> None:
        hb = self.ctx.heartbeat
        hb.count("snapshots")
        SNAPSHOTS.labels(doc["source"]).inc()
        set_gauge(NAV, doc["nav_total"])
        set_gauge(AUM, doc["aum"]["total"])
        set_gauge(NAV_AGE, doc["nav_age_s"])
        hb.status = "degraded" if doc["status"]["degraded"] else "ok"
        hb.gauges.update(nav_seq=doc["seq"], nav_source=doc["source"], nav_total=doc["nav_total"],
                         nav_age_s=doc["nav_age_s"], aum_total=doc["aum"]["total"],
                         reasons=doc["status"]["reasons"][:10], prices_known=len(self.prices))
        now = time.monotonic()
        # the assets, and which of them have a price: the line comes again once prices arrive
        assets = tuple(sorted((k, v.get("usd_value") is not None) for k, v in doc["aum"]["offexchange"].items()))
        if now - self._last_log_line >= LOG_LINE_EVERY_S or assets != self._logged_assets:
            self._last_log_line, self._logged_assets = now, assets
            self.log.info("%s", aum_log_line(doc))

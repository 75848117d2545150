"""The nav service loop: read price batches, value, publish one snapshot per batch.

Each step reads everything pending on `hedge:prices` (consumer group "nav", up to
MAX_BATCH entries), folds it into the latest-price map, and publishes ONE snapshot for
the whole batch (services/nav/publish.py: XADD hedge:nav + SET hedge:nav:seq + XACK, in one
MULTI). A snapshot also goes out after every account poll (of any account) and at least once
per price interval, so cache-path ages grow visibly even when no prices arrive
(`publish_due`). Inputs live in services/nav/inputs.py, one poller thread per account in
services/nav/poller.py.
"""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Mapping

from shared.contracts.vocabulary import fx_pair
from shared.errors import ConfigError
from shared.holdings import HoldingsWatcher
from shared.keys import GROUP_NAV
from shared.logs import add_secrets
from shared.metrics import (
    AUM,
    NAV,
    NAV_AGE,
    SNAPSHOT_DEGRADED,
    SNAPSHOT_LATENCY,
    SNAPSHOT_TIMESTAMP,
    SNAPSHOTS,
    record_account_data,
    record_recon_breaks,
    set_gauge,
)
from shared.redis_io import GroupReader, entry_pos, flat_fields_client
from shared.service import ServiceContext

from services.nav.account import AccountSource, CcxtAccount
from services.nav.accounts import AccountConfig, load_accounts
from services.nav.bookkeeper import IncomeBook
from services.nav.guard import publish_problem
from services.nav.inputs import ManualInput, OnceLog, PriceInput, poll_holdings
from services.nav.manual import manual_from_setting
from services.nav.model import DEFAULT_ACCOUNT, AccountState, limits_for
from services.nav.poller import AccountPoller
from services.nav.publish import NavPublisher, tracked_from
from services.nav.valuation import aum_log_line, build_nav_snapshot, priced_flags

MAX_BLOCK_S = 0.25        # how long one read may wait, so a finished account poll publishes promptly
LOG_LINE_EVERY_S = 60.0   # the [aum-v7] line at most once a minute, and whenever the assets change


def publish_due(*, absorbed: bool, since_last_s: float, interval_s: float, changed: bool,
                polls: Mapping[str, int], published_polls: Mapping[str, int]) -> bool:
    """Whether this step publishes a snapshot: prices arrived, an input changed, an account
    answered (or failed) since the last snapshot, or a price interval passed without one."""
    return absorbed or changed or since_last_s >= interval_s or dict(polls) != dict(published_polls)


def _pollers(ctx: ServiceContext, account: AccountSource | None) -> dict[str, AccountPoller]:
    """One poller per configured account; a given `account` source (tests) is the one account `main`."""
    s = ctx.settings
    if account is not None:
        return {DEFAULT_ACCOUNT: AccountPoller(account, s.account_interval_s)}
    configs = load_accounts(s)
    add_secrets(v for cfg in configs for v in cfg.secret_values())
    return {cfg.name: _poller(ctx, cfg) for cfg in configs}


def _poller(ctx: ServiceContext, cfg: AccountConfig) -> AccountPoller:
    source = CcxtAccount(ctx.settings, account=cfg)
    book = IncomeBook(cfg.name, source.call, ctx.r, ctx.keys)
    return AccountPoller(source, ctx.settings.account_interval_s, name=cfg.name, book=book)


class NavLoop:
    """One nav service: holdings watcher, one account poller thread per account, price reader, publisher."""

    def __init__(self, ctx: ServiceContext, account: AccountSource | None = None) -> None:
        s = ctx.settings
        self.ctx, self.r, self.keys, self.log = ctx, ctx.r, ctx.keys, ctx.log
        self.settings = s
        self.limits = limits_for(s.price_interval_s, s.account_interval_s, s.source_timeout_s,
                                 s.spot_cache_ttl_s, s.coingecko_ttl_s, recon_tolerance_usd=s.recon_tolerance_usd)
        self.fx_pairs = (fx_pair(s.display_currency),)
        # entries as Redis sends them: no dict per price entry (decode_price_flat parses them)
        self.reader = GroupReader(flat_fields_client(self.r), [self.keys.prices], GROUP_NAV,
                                  f"nav-{socket.gethostname()}", count=1000, block_ms=int(MAX_BLOCK_S * 1000))
        self.log_once = OnceLog(self.log)
        self.inputs = PriceInput(self.r, self.keys, self.reader, ctx.heartbeat, self.log_once)
        self.manual = ManualInput(self.r, self.keys, manual_from_setting(s.manual_nav, time.time()),
                                  s.price_interval_s, self.log_once)
        self.holdings = HoldingsWatcher(s.holdings_file)
        try:
            self.pollers = _pollers(ctx, account)
        except ConfigError as exc:
            ctx.log.error("%s", exc)
            raise
        self.out = NavPublisher(self.r, self.keys, self.reader, self.log)
        self._published_polls: dict[str, int] = {}
        self._last_publish = 0.0     # monotonic
        self._last_log_line = -math.inf   # monotonic
        self._logged_assets: tuple[tuple[str, ...], tuple[bool, ...]] | None = None
        self._changed = True
        self._breaks = 0

    @property
    def seq(self) -> int:
        return self.out.seq

    @property
    def prices(self) -> dict:
        return self.inputs.prices

    # --- Loop protocol --------------------------------------------------------------

    def setup(self) -> None:
        self.reader.setup()
        self.out.recover()
        self.manual.reset()
        self.inputs.seed()
        self._changed = True
        for poller in self.pollers.values():
            poller.start()
        self.log.info("ready: seq=%d, %d prices seeded from %s, %d account(s) (%s) polled every %g s",
                      self.seq, len(self.prices), self.keys.prices_latest, len(self.pollers),
                      ", ".join(self.pollers), self.settings.account_interval_s)

    def step(self) -> None:
        if poll_holdings(self.holdings, self.ctx.heartbeat, self.log):
            self._changed = True
        manual, notes, manual_changed = self.manual.read()
        ids = self.inputs.absorb(self.inputs.read_pending(self._block_ms()))
        states = {name: p.state() for name, p in self.pollers.items()}
        polls = {name: st.polls for name, st in states.items()}
        if publish_due(absorbed=bool(ids), since_last_s=time.monotonic() - self._last_publish,
                       interval_s=self.settings.price_interval_s, changed=self._changed or manual_changed,
                       polls=polls, published_polls=self._published_polls):
            self._publish(states, manual, notes, ids)

    def close(self) -> None:
        for poller in self.pollers.values():
            poller.stop()
        for poller in self.pollers.values():
            poller.source.close()

    # --- output --------------------------------------------------------------------

    def _block_ms(self) -> int:
        left = self.settings.price_interval_s - (time.monotonic() - self._last_publish)
        return max(0, int(min(left, MAX_BLOCK_S) * 1000))

    def _publish(self, states: dict[str, AccountState], manual, notes: list[str], ids: list[bytes]) -> None:
        polls = {name: st.polls for name, st in states.items()}
        doc = build_nav_snapshot(
            accounts=states, prices=self.prices, holdings=self.holdings.current, now=time.time(),
            seq=self.seq + 1, limits=self.limits, manual=manual, fx_pairs=self.fx_pairs,
            holdings_error=self.holdings.error, notes=notes)
        problem = publish_problem(doc)
        if problem is not None:
            # The core guarantees a valid document (its property tests hold it to the full
            # schema); if it ever does not, publish nothing rather than a wrong number, and ack
            # nothing (the entries stay pending and are re-read after a restart). Wait a round
            # before trying again: no hot loop.
            self.log_once("invalid", f"snapshot seq {doc['seq']} not published, it breaks the contract: "
                                     f"nav snapshot: {problem}")
            self.ctx.heartbeat.error(f"invalid snapshot not published: nav snapshot: {problem}")
            self._last_publish, self._changed, self._published_polls = time.monotonic(), False, polls
            return
        self.out.publish(doc, ids, tracked_from(states.values()), self.settings.nav_stream_maxlen)
        self._last_publish = time.monotonic()
        self._changed = False
        self._report_polls(states)
        self._published_polls = polls
        if ids:  # Redis stamped the newest entry of the batch when the pricer added it
            SNAPSHOT_LATENCY.observe(max(0.0, time.time() - entry_pos(ids[-1])[0] / 1000))
        self._report(doc)

    def _report_polls(self, states: dict[str, AccountState]) -> None:
        single = list(states) == [DEFAULT_ACCOUNT]
        for name, st in states.items():
            record_account_data(name, st.last_good.ts if st.last_good else None)
            if st.polls != self._published_polls.get(name) and st.error:
                self.ctx.heartbeat.error(f"account: {st.error}" if single else f"account {name}: {st.error}")

    def _report(self, doc: dict) -> None:
        hb = self.ctx.heartbeat
        hb.count("snapshots")
        SNAPSHOTS.labels(doc["source"]).inc()
        set_gauge(NAV, doc["nav_total"])
        set_gauge(AUM, doc["aum"]["total"])
        set_gauge(NAV_AGE, doc["nav_age_s"])
        breaks = 0
        for name, acc in doc["accounts"].items():
            record_recon_breaks(name, {str(asset): 1 for asset in acc["recon_breaks"]})
            breaks += len(acc["recon_breaks"])
        if breaks > self._breaks:
            hb.count("recon_breaks", breaks - self._breaks)
        self._breaks = breaks
        SNAPSHOT_TIMESTAMP.set(doc["ts"])
        SNAPSHOT_DEGRADED.set(1 if doc["status"]["degraded"] else 0)
        hb.status = "degraded" if doc["status"]["degraded"] else "ok"
        hb.gauges.update(nav_seq=doc["seq"], nav_source=doc["source"], nav_total=doc["nav_total"],
                         nav_age_s=doc["nav_age_s"], aum_total=doc["aum"]["total"],
                         reasons=doc["status"]["reasons"][:10], prices_known=len(self.prices),
                         recon_breaks=breaks, accounts=len(self.pollers))
        now = time.monotonic()
        # the assets, and which of them have a price: the line comes again once prices arrive. The
        # holdings are in symbol order already; C-level maps, as this runs for every holding per snapshot.
        offexchange = doc["aum"]["offexchange"]
        assets = (tuple(offexchange), priced_flags(offexchange))
        if now - self._last_log_line >= LOG_LINE_EVERY_S or assets != self._logged_assets:
            self._last_log_line, self._logged_assets = now, assets
            self.log.info("%s", aum_log_line(doc))

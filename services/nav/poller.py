"""Polls one futures account every ACCOUNT_INTERVAL_S in a background thread (one poller per account).

A slow or dead exchange only ages that account's data; it never stalls the price loop or
the other accounts. The loop reads `state()` (last good snapshot + last error + poll count +
reconciliation residuals) whenever it builds a snapshot, and publishes one after every poll.
After each good poll the account's income book (if any) reads and records new income and
reconciles the wallets.
"""

from __future__ import annotations

import logging
import threading

from shared.backoff import Episode
from shared.errors import SourceError, SourceRateLimited

from services.nav.account import AccountSource
from services.nav.bookkeeper import IncomeBook
from services.nav.model import DEFAULT_ACCOUNT, AccountSnapshot, AccountState

log = logging.getLogger("nav.account")


class AccountPoller:
    def __init__(self, source: AccountSource, interval_s: float, *, name: str = DEFAULT_ACCOUNT,
                 book: IncomeBook | None = None) -> None:
        self.source = source
        self.interval_s = interval_s
        self.name = name
        self.book = book
        self._state = AccountState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage = Episode(log, f"account {name} unavailable")
        self.errors = 0

    def state(self) -> AccountState:
        with self._lock:
            return self._state

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"nav-account-{self.name}", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def poll_once(self) -> float:
        """One poll; returns how long to wait before the next one."""
        try:
            snapshot = self.source.fetch()
        except SourceError as exc:
            self.errors += 1
            with self._lock:
                self._state = AccountState(self._state.last_good, exc.detail, self._state.polls + 1,
                                           self._state.residuals, self._state.income_error)
            kept = "serving the last good account data" if self._state.last_good else "no account data yet"
            self._outage.failed(exc, kept)
            if isinstance(exc, SourceRateLimited):
                return max(self.interval_s, exc.retry_after_s)
            return self.interval_s
        residuals, income_error = self._book(snapshot)
        with self._lock:
            self._state = AccountState(snapshot, None, self._state.polls + 1, residuals, income_error)
        self._outage.recovered()
        return self.interval_s

    def _book(self, snapshot: AccountSnapshot) -> tuple[dict[str, float], str | None]:
        """The income book's residuals and error after this poll (none without a book)."""
        if self.book is None or not snapshot.assets:
            return dict(self._state.residuals), None
        result = self.book.update(snapshot)
        return result.residuals, result.error

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.poll_once()
            except Exception as exc:  # a bug here must not silently end polling
                # Not swallowed: logged with its traceback and shown in every snapshot's
                # status.reasons (the account data is then served as cache).
                log.exception("account poll failed unexpectedly; will retry")
                with self._lock:
                    self._state = AccountState(self._state.last_good,
                                               f"internal error while polling: {type(exc).__name__}: {exc}",
                                               self._state.polls + 1, self._state.residuals)
                delay = self.interval_s
            self._stop.wait(delay)

"""Runs the price sources of one round concurrently, each bounded by its own timeout.

A source that overruns its timeout is abandoned for the round (its thread finishes on its
own; until it does, the source is skipped as busy) and never stalls the others. A 429/418
puts a source in backoff until its Retry-After; repeated failures back it off briefly.
While skipped or failed, a source still offers what it cached. Each failure episode is
logged once when it starts and once when it ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from shared.backoff import Backoff, Episode
from shared.errors import SourceBadData, SourceError, SourceRateLimited

from services.pricer.sources.base import PriceSource, SourceAnswer, Want

RATE_LIMIT_BACKOFF = (5.0, 300.0)
"""(base, cap) seconds of backoff after a 429/418 that carried no Retry-After."""
FAILURE_BACKOFF = (0.5, 5.0)
"""(base, cap) seconds a failing (down, timing out) source is skipped for; doubles per failure."""


@dataclass
class SourceStatus:
    """What health shows per source: state, last error, backoff and timings."""

    state: str = "idle"   # ok | timeout | rate_limited | unavailable | bad_data | internal | backoff | busy
    error: str | None = None
    backoff_until: float | None = None
    last_ok_ts: float | None = None
    ms: float | None = None
    failures: int = 0              # consecutive

    def doc(self) -> dict[str, object]:
        return {"state": self.state, "error": self.error, "backoff_until": self.backoff_until,
                "last_ok_ts": self.last_ok_ts, "ms": self.ms, "failures": self.failures}


@dataclass
class _Slot:
    source: PriceSource
    status: SourceStatus
    episode: Episode
    rate_backoff: Backoff
    failure_backoff: Backoff
    inflight: Future | None = None
    started: float = 0.0


@dataclass(frozen=True, slots=True)
class RoundAnswers:
    """Each source's answer (fresh or cached) and, per source, why it did not answer fresh."""

    answers: dict[str, SourceAnswer] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class SourceRunner:
    def __init__(self, sources: Sequence[PriceSource], log: logging.Logger,
                 on_failure: Callable[[str, str, str], None] = lambda _source, _kind, _message: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.on_failure = on_failure
        self.clock = clock
        self.slots = {s.name: _Slot(s, SourceStatus(), Episode(log, f"price source {s.name}"),
                                    Backoff(*RATE_LIMIT_BACKOFF), Backoff(*FAILURE_BACKOFF)) for s in sources}
        self.executor = ThreadPoolExecutor(max_workers=max(1, len(self.slots)), thread_name_prefix="pricer-src")

    @property
    def statuses(self) -> dict[str, SourceStatus]:
        return {name: slot.status for name, slot in self.slots.items()}

    def run(self, want: Want, now: float) -> RoundAnswers:
        """Ask every source for `want`; returns within the slowest source's timeout."""
        out = RoundAnswers()
        pending: dict[Future, tuple[_Slot, float]] = {}
        for slot in self.slots.values():
            skip = self._skip_reason(slot, now)
            if skip:
                out.failures[slot.source.name] = skip
                out.answers[slot.source.name] = slot.source.cached(want, now)
                continue
            slot.started = time.monotonic()
            slot.inflight = self.executor.submit(slot.source.fetch, want, now)
            pending[slot.inflight] = (slot, slot.started + slot.source.timeout_s)
        while pending:
            deadline = min(d for _, d in pending.values())
            done, _ = wait(pending, timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
            for future in done:
                slot, _ = pending.pop(future)
                self._collect(slot, future, want, now, out)
            overdue = [f for f, (_, d) in pending.items() if time.monotonic() >= d]
            for future in overdue:
                slot, _ = pending.pop(future)
                self._timed_out(slot, want, now, out)
        return out

    def _skip_reason(self, slot: _Slot, now: float) -> str | None:
        status = slot.status
        if slot.inflight is not None and not slot.inflight.done():
            status.state = "busy"
            return (f"previous request still running {time.monotonic() - slot.started:.1f} s after it started "
                    "(abandoned after its timeout); skipped this round")
        if status.backoff_until is not None and now < status.backoff_until:
            if status.state not in ("rate_limited", "backoff"):
                status.state = "backoff"
            return f"backing off for {status.backoff_until - now:.1f} s more after: {status.error}"
        return None

    def _collect(self, slot: _Slot, future: Future, want: Want, now: float, out: RoundAnswers) -> None:
        name = slot.source.name
        slot.status.ms = round((time.monotonic() - slot.started) * 1000.0, 1)
        try:
            answer = future.result()
        except SourceRateLimited as exc:
            delay = exc.retry_after_s if exc.retry_after_s is not None else slot.rate_backoff.next_delay()
            self._failed(slot, "rate_limited", exc, f"not asking again for {delay:.1f} s", now + delay)
        except SourceBadData as exc:
            self._failed(slot, "bad_data", exc, "falling back to the next tier", None)
        except SourceError as exc:
            delay = slot.failure_backoff.next_delay()
            self._failed(slot, "unavailable", exc, f"falling back; retrying in {delay:.1f} s", now + delay)
        except Exception as exc:  # a bug in one adapter must not stop the other sources
            if not slot.episode.active:
                self.log.error("price source %s raised %s; treating it as failed", name, type(exc).__name__,
                               exc_info=exc)
            self._failed(slot, "internal", f"internal error: {type(exc).__name__}: {exc}", "falling back", None)
        else:
            self._succeeded(slot, now)
            out.answers[name] = answer
            return
        out.failures[name] = slot.status.error
        out.answers[name] = slot.source.cached(want, now)

    def _timed_out(self, slot: _Slot, want: Want, now: float, out: RoundAnswers) -> None:
        name = slot.source.name
        slot.status.ms = round((time.monotonic() - slot.started) * 1000.0, 1)
        delay = slot.failure_backoff.next_delay()
        message = f"no answer within {slot.source.timeout_s:g} s; abandoned for this round"
        self._failed(slot, "timeout", message, f"falling back; retrying in {delay:.1f} s", now + delay)
        out.failures[name] = slot.status.error
        out.answers[name] = slot.source.cached(want, now)

    def _failed(self, slot: _Slot, kind: str, error: object, action: str, backoff_until: float | None) -> None:
        """Record a failure of `kind` (timeout, rate_limited, unavailable, bad_data, internal)."""
        slot.status.state = kind
        slot.status.error = error.detail if isinstance(error, SourceError) else str(error)
        slot.status.backoff_until = backoff_until
        slot.status.failures += 1
        slot.episode.failed(slot.status.error, action)
        self.on_failure(slot.source.name, kind, slot.status.error)

    def _succeeded(self, slot: _Slot, now: float) -> None:
        status = slot.status
        status.state, status.error, status.backoff_until, status.last_ok_ts = "ok", None, None, now
        status.failures = 0
        slot.rate_backoff.reset()
        slot.failure_backoff.reset()
        slot.episode.recovered()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        for slot in self.slots.values():
            slot.source.close()

"""The round runner with test-double sources: deadlines, abandonment, backoff, cache fallback."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from services.pricer.chain import Quote
from services.pricer.runner import SourceRunner
from services.pricer.sources.base import SourceAnswer, Want, parse_retry_after
from shared.errors import SourceBadData, SourceRateLimited, SourceUnavailable

WANT = Want({}, frozenset())
NOW = 1_800_000_000.0


class FakeSource:
    """A PriceSource double: answers, raises, or hangs until released."""

    def __init__(self, name: str, timeout_s: float = 0.3) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.behaviour: object = SourceAnswer({"X": Quote(1.0, NOW)})
        self.calls = 0
        self.release = threading.Event()
        self.cache = SourceAnswer({"X": Quote(0.5, NOW - 10)})

    def fetch(self, want, now):
        self.calls += 1
        if self.behaviour == "hang":
            self.release.wait(5)
            return SourceAnswer()
        if isinstance(self.behaviour, BaseException):
            raise self.behaviour
        return self.behaviour

    def cached(self, want, now):
        return self.cache

    def close(self):
        self.release.set()


@pytest.fixture
def log():
    return logging.getLogger("test-runner")


def make(log, *sources):
    failures = []
    runner = SourceRunner(sources, log, lambda s, k, _m: failures.append((s, k)))
    return runner, failures


def test_a_hung_source_is_abandoned_at_its_timeout_and_others_still_answer(log):
    fast, hung = FakeSource("fast"), FakeSource("hung", timeout_s=0.3)
    hung.behaviour = "hang"
    runner, failures = make(log, fast, hung)
    try:
        t0 = time.monotonic()
        out = runner.run(WANT, NOW)
        elapsed = time.monotonic() - t0
        assert 0.29 <= elapsed < 0.6, elapsed
        assert out.answers["fast"].quotes["X"].px == 1.0
        assert out.answers["hung"] is hung.cache, "a timed-out source still offers its cache"
        assert "no answer within 0.3 s" in out.failures["hung"]
        assert runner.statuses["hung"].state == "timeout" and runner.statuses["fast"].state == "ok"
        assert failures == [("hung", "timeout")]
        # still running next round: skipped as busy (or backing off), not asked twice at once
        runner.statuses["hung"].backoff_until = None
        out = runner.run(WANT, NOW + 1)
        assert hung.calls == 1 and "previous request still running" in out.failures["hung"]
        assert runner.statuses["hung"].state == "busy"
    finally:
        runner.close()


def test_rate_limit_backs_off_until_retry_after_and_serves_the_cache(log):
    src = FakeSource("cg")
    src.behaviour = SourceRateLimited("cg", "HTTP 429 (Retry-After 30 s)", 30.0)
    runner, failures = make(log, src)
    try:
        runner.run(WANT, NOW)
        status = runner.statuses["cg"]
        assert status.state == "rate_limited" and status.backoff_until == NOW + 30
        assert failures == [("cg", "rate_limited")]
        src.behaviour = SourceAnswer({"X": Quote(2.0, NOW)})
        out = runner.run(WANT, NOW + 29)
        assert src.calls == 1, "not asked again before Retry-After"
        assert out.answers["cg"] is src.cache and "backing off for 1.0 s more" in out.failures["cg"]
        out = runner.run(WANT, NOW + 30.5)
        assert src.calls == 2 and out.answers["cg"].quotes["X"].px == 2.0 and not out.failures
        assert runner.statuses["cg"].state == "ok" and runner.statuses["cg"].backoff_until is None
    finally:
        runner.close()


def test_rate_limit_without_retry_after_uses_exponential_backoff(log):
    src = FakeSource("mark")
    src.behaviour = SourceRateLimited("mark", "HTTP 418 (no Retry-After)", None)
    runner, _ = make(log, src)
    try:
        runner.run(WANT, NOW)
        first = runner.statuses["mark"].backoff_until - NOW
        runner.run(WANT, NOW + first + 0.01)
        second = runner.statuses["mark"].backoff_until - (NOW + first + 0.01)
        assert 4 <= first <= 6 and 8 <= second <= 12
    finally:
        runner.close()


def test_failures_are_mapped_to_states_and_bad_data_does_not_back_off(log):
    down, bad, buggy = FakeSource("down"), FakeSource("bad"), FakeSource("buggy")
    down.behaviour = SourceUnavailable("down", "connection refused")
    bad.behaviour = SourceBadData("bad", "answer is not JSON")
    buggy.behaviour = ZeroDivisionError("oops")
    runner, failures = make(log, down, bad, buggy)
    try:
        out = runner.run(WANT, NOW)
        st = runner.statuses
        assert (st["down"].state, st["down"].error) == ("unavailable", "connection refused")
        assert st["down"].backoff_until is not None and st["down"].backoff_until - NOW <= 0.6
        assert (st["bad"].state, st["bad"].backoff_until) == ("bad_data", None)
        assert st["buggy"].state == "internal" and "ZeroDivisionError" in st["buggy"].error
        assert sorted(failures) == [("bad", "bad_data"), ("buggy", "internal"), ("down", "unavailable")]
        assert set(out.failures) == {"down", "bad", "buggy"}
    finally:
        runner.close()


def test_failure_episode_is_logged_once_and_recovery_once(log, caplog):
    src = FakeSource("spot_cache")
    src.behaviour = SourceBadData("spot_cache", "garbage")
    runner, _ = make(log, src)
    try:
        with caplog.at_level(logging.WARNING, logger="test-runner"):
            for i in range(5):
                runner.run(WANT, NOW + i)
            src.behaviour = SourceAnswer()
            runner.run(WANT, NOW + 10)
            runner.run(WANT, NOW + 11)
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2, lines
        assert "price source spot_cache: garbage" in lines[0] and "recovered" in lines[1]
    finally:
        runner.close()


@pytest.mark.parametrize("header, seconds", [("7", 7.0), ("0", 0.0), ("2.5", 2.5), (None, None), ("soon", None),
                                             ("Thu, 01 Jan 2026 00:00:30 GMT", 30.0)])
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header, now=1767225600.0) == seconds

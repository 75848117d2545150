"""Browser-test fixtures: Debian's Chromium through Playwright, and a real dashboard process.

Without /usr/bin/chromium the browser tests skip (install it with apt-get), except
in CI (CI=true), where a missing browser is a failure, not a silent skip.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support import ServiceProcess, eventually, free_port

VIEWPORT = {"width": 1400, "height": 1000}
# The `browser` fixture (one Chromium per session) is in tests/conftest.py: the compose test uses it too.


@dataclass
class DashPage:
    """A browser tab on the dashboard that remembers console errors and uncaught page errors."""

    page: object
    base_url: str
    artifacts: Path
    errors: list[str] = field(default_factory=list)

    def open(self, path: str = "/", ready: str = ".ns-page") -> None:
        self.page.goto(self.base_url + path)
        self.page.wait_for_selector(ready, timeout=15_000)

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)

    def screenshot(self, name: str) -> Path:
        path = self.artifacts / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        """No console errors, no uncaught exceptions, no Dash error overlay, no traceback text."""
        assert self.errors == [], f"browser reported errors: {self.errors}"
        assert self.page.locator(".dash-fe-error__title, .dash-debug-menu__error").count() == 0
        body = self.page.inner_text("body")
        assert "Traceback" not in body and "Internal Server Error" not in body


@pytest.fixture
def dash_page(browser, artifacts_dir) -> Iterator[Callable[[str], DashPage]]:
    contexts = []

    def open_tab(base_url: str) -> DashPage:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        tab = DashPage(page, base_url, artifacts_dir)
        page.on("console", lambda msg: tab.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: tab.errors.append(f"page error: {exc}"))
        return tab

    yield open_tab
    for context in contexts:
        context.close()


@dataclass
class Dashboard:
    proc: ServiceProcess
    base_url: str
    started_in_s: float


@pytest.fixture
def dashboard(env, services) -> Callable[..., Dashboard]:
    """Start `python -m services.dashboard` on a free port; returns once it answers HTTP."""

    def start(**overrides: str) -> Dashboard:
        port = free_port()
        proc_env = {**env, "DASH_HOST": "127.0.0.1", "DASH_PORT": str(port), **overrides}
        started = time.monotonic()
        proc = services("dashboard", proc_env)
        base_url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert proc.alive(), f"dashboard exited:\n{proc.log_text()}"
            return requests.get(base_url + "/", timeout=1).ok

        eventually(answers, timeout=15, message="the dashboard to answer HTTP")
        return Dashboard(proc, base_url, time.monotonic() - started)

    return start

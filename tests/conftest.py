"""Fixtures shared by every test folder: real redis-server, marketsim, service processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import database_url, pg_server, postgres  # noqa: F401 - fixtures: SQLite and real PostgreSQL
from tests.support import CONFIG_DIR, ROOT, RedisServer, ServiceProcess, eventually, free_port, missing, service_env

DEFAULT_HOLDINGS = (CONFIG_DIR / "offexchange_holdings.json").read_bytes()


def _running(server: RedisServer) -> Iterator[RedisServer]:
    server.start()
    yield server
    if server.proc is not None:
        server.thaw() if server.proc.poll() is None else None
    server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server (AOF on) on a free port; tests may kill, freeze and restart it."""
    yield from _running(RedisServer(tmp_path / "redis"))


@pytest.fixture
def password_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """The same, requiring the test module's PASSWORD (requirepass)."""
    yield from _running(RedisServer(tmp_path / "redis", password=request.module.PASSWORD))


@pytest.fixture
def r(redis_server: RedisServer):
    client = redis_server.client()
    yield client
    client.close()


@pytest.fixture
def env(redis_server: RedisServer, tmp_path: Path) -> dict[str, str]:
    """Service environment against this test's Redis, with the default holdings copied in."""
    (tmp_path / "holdings.json").write_bytes(DEFAULT_HOLDINGS)
    return service_env(redis_server.url, tmp_path, MARKETSIM_PORT=free_port())


@pytest.fixture
def services(tmp_path: Path) -> Iterator[callable]:
    """Start `python -m services.<name>` processes; all are stopped at teardown."""
    started: list[ServiceProcess] = []

    def start(name: str, env: dict[str, str], args: list[str] | None = None) -> ServiceProcess:
        proc = ServiceProcess(name, env, tmp_path / "logs", args).start()
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        proc.kill()


@pytest.fixture
def marketsim(env: dict[str, str], services) -> ServiceProcess:
    """marketsim on the env's MARKETSIM_PORT, answering before the test goes on."""
    import requests

    proc = services("marketsim", env)
    base = f"http://127.0.0.1:{env['MARKETSIM_PORT']}"
    eventually(lambda: requests.get(f"{base}/_sim/faults", timeout=1).ok, timeout=15,
               message="marketsim to answer")
    return proc


@pytest.fixture
def artifacts_dir() -> Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


# --- one headless Chromium per test session (tests/browser and the compose test) ----------------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        missing(CHROMIUM, "apt-get install -y chromium (.ci/run installs it)")


@pytest.fixture(scope="session")
def browser():
    """Playwright's sync API allows one instance per process: every test shares this one."""
    require_chromium()
    from playwright.sync_api import sync_playwright  # only when a browser test runs

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()

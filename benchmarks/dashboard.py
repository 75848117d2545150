"""Dashboard cost at N holdings: the Overview's callbacks (in-process and over HTTP) and the donut in Chromium.

- Server time: the page's own functions (`layout()`, `refresh()`) called directly against the
  benchmark's Redis, in a fresh child process (`python -m benchmarks.dashboard`, so the
  benchmark's own heap and threads do not weigh on it), with the dashboard's live feed thread
  following hedge:nav. `layout()` and a full redraw (the browser has drawn nothing yet) are
  timed right after a new snapshot document arrived; then a poll where nothing changed.
- HTTP: the same refresh callback as a browser sends it (POST /_dash-update-component) to a
  real `python -m services.dashboard` process: Flask, Dash and JSON serialisation included.
- Browser: headless Chromium (Playwright) opens `/` in a fresh context each time; the figure
  is the time from navigation start until a donut slice is visible (and which plotly.js file
  the page loaded: the partial bundle, or Dash's full one when the bundle is not installed).
"""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import orjson
import redis
import requests

from shared.keys import Keys
from shared.redis_io import connect
from shared.settings import Settings

from benchmarks.stats import median_p99

KEYS = Keys()
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
DONUT_SLICE = "#overview-aum-donut g.slice"
DONUT_OUTPUT = "overview-aum-donut.figure"


def _time_ms(fn, runs: int, before=None) -> list[float]:
    """Wall ms of `runs` calls of `fn`; `before()` runs ahead of each call, untimed."""
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def measure_callbacks(redis_url: str, dashboard_state_dir: Path, runs: int, timeout_s: float = 120.0) -> dict:
    """`callbacks_in_this_process` in a child process; its JSON answer."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.dashboard", redis_url, str(dashboard_state_dir),
                           str(runs)],
                          cwd=ROOT, capture_output=True, timeout=timeout_s)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"Overview callback timing failed (exit {proc.returncode}): {' | '.join(tail)}")
    return orjson.loads(proc.stdout)


def callbacks_in_this_process(redis_url: str, dashboard_state_dir: Path, runs: int) -> dict:
    """The Overview's server-side cost, calling the page module's functions directly."""
    from services.dashboard.app import create_app
    from services.dashboard.context import current
    from services.dashboard.live import LiveFeed

    settings = Settings(redis_url=redis_url, dashboard_state_dir=dashboard_state_dir, display_currency="ZAR")
    create_app(settings)  # registers the pages; its context points the data loaders at this Redis
    cache = current().live  # the app's live cache, which the pages read
    overview = importlib.import_module("services.dashboard.pages.overview")

    r = redis.Redis.from_url(redis_url)
    if not r.xrevrange(KEYS.nav, count=1):
        raise RuntimeError("dashboard benchmark: hedge:nav is empty; nothing to show")
    # The dashboard's own feed thread keeps the newest hedge:nav snapshot in the live cache.
    feed = LiveFeed(connect(redis_url, name="navstream-bench-dashboard-feed"), KEYS, cache)
    gc.freeze()  # as the dashboard's main() does once the app is built
    feed.start()
    deadline = time.monotonic() + 10.0
    while cache.get().snapshot is None:
        if time.monotonic() > deadline:
            raise RuntimeError("dashboard benchmark: the live feed read no snapshot from hedge:nav in 10 s")
        time.sleep(0.01)

    def new_snapshot() -> None:
        """A new snapshot as the feed delivers it: a freshly decoded document in the live cache (the
        page keeps per-document work, such as the donut slices, until the document changes)."""
        st = cache.get()
        cache.put(orjson.loads(orjson.dumps(st.snapshot)), st.entry_id, time.time())

    shown: dict = {}

    def drawn() -> None:
        """The browser has drawn the newest snapshot: what it sends back with the next poll."""
        shown.clear()
        shown.update(overview.refresh(1, {})[-1])

    overview.layout()  # warm-up (imports, first figure)
    doc = cache.get().snapshot
    out = {
        "holdings": len(doc["aum"]["offexchange"]),
        "runs": runs,
        # A page load and a full redraw right after a new snapshot arrived; then a poll that finds
        # the same snapshot (only the ages it shows may have changed).
        "layout_ms": median_p99(_time_ms(overview.layout, runs, new_snapshot), 2),
        "refresh_full_ms": median_p99(_time_ms(lambda: overview.refresh(1, {}), runs, new_snapshot), 2),
        "refresh_unchanged_ms": median_p99(_time_ms(lambda: overview.refresh(2, shown), runs, drawn), 2),
    }
    feed.stop()
    return out


def _refresh_payload(session: requests.Session, base_url: str) -> dict:
    """The browser's request for the Overview refresh (full redraw), built from the app's own dependency list."""
    deps = session.get(f"{base_url}/_dash-dependencies", timeout=10).json()
    dep = next((d for d in deps if DONUT_OUTPUT in d["output"]), None)
    if dep is None:
        raise RuntimeError(f"dashboard benchmark: no callback outputs {DONUT_OUTPUT} (is the Overview page there?)")
    outputs = [o.rsplit(".", 1) for o in dep["output"].strip(".").split("...")]
    return {
        "output": dep["output"],
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [dict(x, value=1) for x in dep["inputs"]],
        "state": [dict(x, value={}) for x in dep["state"]],
        "changedPropIds": [f"{x['id']}.{x['property']}" for x in dep["inputs"]],
    }


def measure_http(base_url: str, runs: int) -> dict:
    """POST the Overview refresh (full redraw) to the dashboard process."""
    session = requests.Session()
    payload = orjson.dumps(_refresh_payload(session, base_url))
    headers = {"Content-Type": "application/json"}
    size = 0

    def post() -> None:
        nonlocal size
        resp = session.post(f"{base_url}/_dash-update-component", data=payload, headers=headers, timeout=30)
        resp.raise_for_status()
        size = len(resp.content)

    post()  # warm-up
    return {"refresh_full_ms": median_p99(_time_ms(post, runs), 2), "response_kb": round(size / 1024, 1)}


SelectorState = Literal["attached", "detached", "hidden", "visible"]


def timed_loads(url: str, selector: str, loads: int, *, wait: tuple[SelectorState, int] = ("visible", 30_000),
                on_page: Callable[[Any], None] | None = None, after_load: Callable[[Any], Any] | None = None,
                then: Callable[[Any], Any] | None = None) -> tuple[list[float], Any, Any]:
    """Navigation start -> `selector` in state `wait[0]` (within `wait[1]` ms), in headless Chromium,
    a fresh context per load.

    `on_page(page)` runs before each navigation (to listen for requests), `after_load(page)` after
    each load (its last answer is returned), `then(browser)` once after the loads. Returns (seconds
    per load, the last after_load answer, then's answer); RuntimeError with Playwright's message.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    last = extra = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for _ in range(loads):
                    context = browser.new_context()
                    page = context.new_page()
                    if on_page is not None:
                        on_page(page)
                    t0 = time.perf_counter()
                    page.goto(url, wait_until="commit")
                    page.wait_for_selector(selector, state=wait[0], timeout=wait[1])
                    times.append(time.perf_counter() - t0)
                    last = after_load(page) if after_load is not None else None
                    context.close()
                extra = then(browser) if then is not None else None
            finally:
                browser.close()
    except PlaywrightError as exc:  # nothing within the timeout, or Chromium would not start
        raise RuntimeError(f"Chromium: {str(exc).splitlines()[0]}") from None
    return times, last, extra


def load_summary(times: list[float]) -> dict[str, Any]:
    return {"loads": len(times), "first_s": round(times[0], 3), "median_s": round(sorted(times)[len(times) // 2], 3),
            "max_s": round(max(times), 3)}


def measure_donut(base_url: str, loads: int) -> dict:
    """Navigation start -> first donut slice visible, in headless Chromium; a fresh context per load."""
    if not os.path.exists(CHROMIUM):
        return {"skipped": f"{CHROMIUM} not installed (apt-get install chromium)"}
    plotly_js: set[str] = set()   # which plotly.js the page loaded: the partial bundle, or Dash's full one

    def listen(page: Any) -> None:
        page.on("request", lambda req: plotly_js.add(req.url.split("?")[0].rsplit("/", 1)[-1])
                if "plotly" in req.url and req.resource_type == "script" else None)

    times, slices, _ = timed_loads(f"{base_url}/", DONUT_SLICE, loads, on_page=listen,
                                   after_load=lambda page: page.locator(DONUT_SLICE).count())
    return {**load_summary(times), "slices": slices, "plotly_js": sorted(plotly_js)}


if __name__ == "__main__":
    # `python -m benchmarks.dashboard REDIS_URL DASHBOARD_STATE_DIR RUNS`: the callback timings as JSON.
    sys.stdout.buffer.write(orjson.dumps(callbacks_in_this_process(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))

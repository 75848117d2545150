"""`python -m services.dashboard` as a process: quick start, heartbeat, clean stop (no browser needed)."""

from __future__ import annotations

import requests

from shared.contracts.health import decode_heartbeat
from tests.browser.dashboard_state import KEYS
from tests.support import eventually


def test_starts_fast_beats_and_stops_cleanly_on_sigterm(r, dashboard):
    dash = dashboard()
    assert dash.started_in_s < 5.0, f"took {dash.started_in_s:.1f} s to answer HTTP"
    beat = decode_heartbeat(eventually(lambda: r.get(KEYS.health("dashboard")), timeout=3, message="heartbeat"))
    assert beat.service == "dashboard" and beat.pid == dash.proc.pid
    assert requests.get(dash.base_url + "/_dash-layout", timeout=2).ok
    assert dash.proc.stop(timeout=5) == 0
    assert "stopped" in dash.proc.log_text()
    assert "Traceback" not in dash.proc.log_text()


def test_listens_on_loopback_by_default(dashboard):
    dash = dashboard()
    assert dash.base_url.startswith("http://127.0.0.1:")
    assert "serving on http://127.0.0.1:" in dash.proc.log_text()

"""The Performance page's strikes table over years of strikes: the newest month, and a line that says so."""

from __future__ import annotations

import dash
import pytest

from services.dashboard.record import STRIKES_SHOWN, RecordView
from tests.unit.test_dashboard_app import app, page, texts  # noqa: F401 - the app fixture registers the pages


def _view(n_shown: int, total: int) -> RecordView:
    strikes = [{"strike_date": f"2026-01-{d + 1:02d}", "state": "locked", "late": False, "unit_price": 1.0,
                "aum_total": 1e6, "note": "", "reasons": "[]", "hash": "ab" * 32} for d in range(n_shown)]
    return RecordView(points=[], performance=None, extra={}, monthly=[], underwater=[], flows=[], strikes=strikes,
                      strikes_total=total)


@pytest.mark.parametrize(("shown", "total", "note"), [(3, 3, False), (STRIKES_SHOWN, 1095, True)])
def test_strikes_table_names_what_it_leaves_out(app: dash.Dash, shown: int, total: int, note: bool):  # noqa: F811
    perf = page(app, "performance")
    text = " ".join(texts(perf.strikes_table(_view(shown, total))))
    assert text.count("locked") == shown
    assert (f"the newest {STRIKES_SHOWN} of 1,095 strikes" in text) is note
    assert ("navstream strike list" in text) is note

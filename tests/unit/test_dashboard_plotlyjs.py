"""Which plotly.js the dashboard serves: the pinned partial bundle when it is there and fits, else Dash's."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import plotly
from plotly.offline import get_plotlyjs_version

from services.dashboard import plotlyjs
from services.dashboard.app import DASH_PLOTLY, GRAPH_CHUNK, graph_preloads

ROOT = Path(__file__).resolve().parents[2]
DASH_FULL_BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def fake_bundle(folder: Path, version: str, name: str = "plotly-basic.min.js") -> Path:
    path = folder / name
    path.write_text(f"/**\n* plotly.js (basic - minified) v{version}\n* Copyright 2012-2026, Plotly, Inc.\n*/\n"
                    "window.Plotly = {version: '%s'};\n" % version)
    return path


def test_the_makefile_pins_the_plotly_js_that_plotly_py_draws_for():
    # `make lock` moving plotly to another plotly.js needs a new PLOTLY_JS_VERSION and sha256 in the Makefile.
    makefile = (ROOT / "Makefile").read_text()
    pinned = re.search(r"^PLOTLY_JS_VERSION\s*:=\s*(\S+)", makefile, re.M)
    sha = re.search(r"^PLOTLY_JS_SHA256\s*:=\s*([0-9a-f]{64})\s*$", makefile, re.M)
    assert pinned and sha, "Makefile: PLOTLY_JS_VERSION and a 64-hex PLOTLY_JS_SHA256 are missing"
    assert pinned.group(1) == get_plotlyjs_version()


def test_the_version_is_read_from_the_bundle_header():
    assert plotlyjs.header_version(b"/**\n* plotly.js (basic - minified) v4.1.1\n* Copyright") == "4.1.1"
    assert plotlyjs.header_version(DASH_FULL_BUNDLE.read_bytes()[:512]) == get_plotlyjs_version()
    assert plotlyjs.header_version(b"window.Plotly = {};") is None


def test_a_bundle_of_plotly_pys_major_version_is_served(tmp_path, caplog):
    major = get_plotlyjs_version().split(".")[0]
    path = fake_bundle(tmp_path, f"{major}.99.0")
    with caplog.at_level(logging.INFO, logger="dashboard.plotly"):
        bundle = plotlyjs.load_bundle(path)
    assert bundle is not None and bundle.path == path and bundle.version == f"{major}.99.0"
    assert bundle.url("/_navstream/plotly-basic.min.js") == f"/_navstream/plotly-basic.min.js?v={bundle.digest}"
    assert f"serving plotly.js {major}.99.0 from {path}" in caplog.text
    path.write_text(path.read_text() + "// changed\n")
    assert plotlyjs.load_bundle(path).digest != bundle.digest   # a new file, a new URL: no stale cache


def test_a_missing_bundle_falls_back_to_dashs_with_a_warning(tmp_path, caplog):
    missing = tmp_path / "vendor" / "plotly-basic.min.js"
    with caplog.at_level(logging.WARNING, logger="dashboard.plotly"):
        assert plotlyjs.load_bundle(missing) is None
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert str(missing) in record.message and "Dash's full plotly.js" in record.message
    assert "make plotly-bundle" in record.message


def test_another_major_version_or_no_header_falls_back_with_a_warning(tmp_path, caplog):
    expected = get_plotlyjs_version()
    other = fake_bundle(tmp_path, f"{int(expected.split('.')[0]) + 1}.0.0", "next.min.js")
    headless = tmp_path / "headless.min.js"
    headless.write_text("window.Plotly = {};\n")
    with caplog.at_level(logging.WARNING, logger="dashboard.plotly"):
        assert plotlyjs.load_bundle(other) is None
        assert plotlyjs.load_bundle(headless) is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]
    assert f"plotly.py draws for plotly.js {expected}" in caplog.records[0].message
    assert "unknown (no version in its header)" in caplog.records[1].message


def test_dashs_full_plotly_js_is_preloaded_only_when_dcc_graph_will_load_it():
    with_dash = [link["href"] for link in graph_preloads("/", dash_plotly=True)]
    assert with_dash == [f"/_dash-component-suites/{DASH_PLOTLY}", f"/_dash-component-suites/{GRAPH_CHUNK}"]
    assert [link["href"] for link in graph_preloads("/", dash_plotly=False)] == [
        f"/_dash-component-suites/{GRAPH_CHUNK}"]

"""The wheel as a user installs it: only navstream's packages, the demo config inside, and
`pip install <wheel>` into a fresh virtualenv then `navstream up` in an empty folder brings up the demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests

from services.dashboard.plotlyjs import DEFAULT_BUNDLE
from tests.support import ROOT, eventually, free_port


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = out.glob("navstream-*.whl")
    return built


def test_wheel_holds_only_navstream_packages_with_config_and_license(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"services", "shared", "navstream-0.1.0.dist-info"}
    assert "services/defaults/offexchange_holdings.json" in names
    assert "services/defaults/coingecko_ids.json" in names
    assert "services/dashboard/assets/navstream.css" in names
    if DEFAULT_BUNDLE.exists():   # git-ignored, fetched by `make`: a hatch artifact, so the wheel ships it
        assert "services/dashboard/vendor/plotly-basic.min.js" in names
    assert "navstream-0.1.0.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    entry_points = zipfile.ZipFile(wheel).read("navstream-0.1.0.dist-info/entry_points.txt").decode()
    assert "navstream = services.cli:main" in entry_points
    assert "navstream-healthcheck = services.healthcheck:main" in entry_points


def _venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for args in (["--require-hashes", "--no-deps", "-r", str(ROOT / "requirements.lock")], ["--no-deps", str(wheel)]):
        result = subprocess.run([*pip, *args], capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    size = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True).stdout.split()[0]
    print(f"\nfresh virtualenv with the wheel and its locked dependencies: {size} MB")
    return venv


def test_pip_install_of_the_wheel_then_navstream_up_in_an_empty_folder(wheel, tmp_path):
    venv = _venv(tmp_path, wheel)
    version = subprocess.run([str(venv / "bin" / "navstream"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "navstream 0.1.0"
    empty = tmp_path / "fund"
    empty.mkdir()
    dash_port = free_port()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MARKETSIM_PORT": str(free_port()),
           "DASH_PORT": str(dash_port), "METRICS_PORT_BASE": "0", "PRICE_INTERVAL_S": "0.5"}
    out_path = tmp_path / "up.out"
    with open(out_path, "wb") as out:
        proc = subprocess.Popen([str(venv / "bin" / "navstream"), "up"], cwd=empty, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        eventually(lambda: "ready in" in out_path.read_text(), timeout=90, message="the ready line")
        output = out_path.read_text()
        assert "config: wrote config/offexchange_holdings.json" in output
        assert (empty / "config" / "offexchange_holdings.json").read_bytes() == \
            (ROOT / "config" / "offexchange_holdings.json").read_bytes()
        assert requests.get(f"http://127.0.0.1:{dash_port}/", timeout=10).status_code == 200
        eventually(lambda: (empty / "logs" / "state" / "nav.json").exists(), timeout=30, message="nav.json")
        assert not (empty / "tests").exists() and "Traceback" not in output
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0 and "stopped" in out_path.read_text()
    assert not os.path.exists(empty / "var" / "redis.url"), "the embedded Redis's URL file outlived it"

"""shared/ccxt_lite.py: the pricer and nav import ccxt's Binance classes without its ~110 other exchanges."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT

def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_services_load_binance_only_and_the_classes_are_ccxts_own():
    out = run(
        "import sys\n"
        "import services.nav.account, services.pricer.sources.binance\n"
        "from shared.ccxt_lite import ccxt\n"
        "from shared.exchange import make_usdm, make_spot\n"
        "from shared.settings import Settings\n"
        "import ccxt.base.errors as errors\n"
        "client = make_usdm(Settings(), timeout_s=1.0, with_keys=True)\n"
        "spot = make_spot(Settings(), timeout_s=1.0)\n"
        "assert type(client).__name__ == 'binanceusdm' and isinstance(spot, ccxt.binance)\n"
        "assert ccxt.NetworkError is errors.NetworkError and issubclass(ccxt.DDoSProtection, ccxt.NetworkError)\n"
        "assert all(hasattr(ccxt, name) for name in errors.__all__)\n"
        "print(sorted(m.split('.')[1] for m in sys.modules if m.count('.') == 1 and m.startswith('ccxt.')))\n"
        "print(ccxt.__version__)\n")
    loaded, version = out.splitlines()
    assert "okx" not in loaded and "kraken" not in loaded and "binancecoinm" not in loaded, loaded
    assert "binanceusdm" in loaded and version.count(".") == 2


def test_the_full_package_is_used_when_it_is_already_imported():
    out = run("import ccxt\nfrom shared.ccxt_lite import ccxt as lite\nprint(lite is ccxt, hasattr(lite, 'okx'))\n")
    assert out.split() == ["True", "True"]

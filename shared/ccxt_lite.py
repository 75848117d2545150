"""ccxt with only what navstream uses: `from shared.ccxt_lite import ccxt`, then `ccxt.binanceusdm`, ...

`import ccxt` runs ccxt/__init__.py, which imports every one of its ~110 exchange classes:
about 35 MB of RSS and 0.1-0.2 s of start-up in each process that imports it (the pricer
and nav), for two classes used. Here the `ccxt` package is registered without running its
__init__, and only `binance`, `binanceusdm`, the base `Exchange` and the exception tree are
imported from their own modules; the names navstream reads (`ccxt.binanceusdm`,
`ccxt.NetworkError`, `ccxt.__version__`, ...) are set on it. The classes are ccxt's own, so
behaviour is ccxt's. When the full package is already imported (a test did `import ccxt`
first), that one is used as it is.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING


def _lite() -> ModuleType:
    found = sys.modules.get("ccxt")
    if found is not None:
        return found
    spec = importlib.util.find_spec("ccxt")
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError("No module named 'ccxt'", name="ccxt")
    package = importlib.util.module_from_spec(spec)   # its __path__, not its __init__
    sys.modules["ccxt"] = package
    try:
        errors = importlib.import_module("ccxt.base.errors")
        exchange = importlib.import_module("ccxt.base.exchange")
        for name in errors.__all__:
            setattr(package, name, getattr(errors, name))
        package.Exchange = exchange.Exchange            # type: ignore[attr-defined]
        package.__version__ = exchange.__version__      # type: ignore[attr-defined]
        package.binance = importlib.import_module("ccxt.binance").binance            # type: ignore[attr-defined]
        package.binanceusdm = importlib.import_module("ccxt.binanceusdm").binanceusdm  # type: ignore[attr-defined]
    except BaseException:
        del sys.modules["ccxt"]
        raise
    return package


if TYPE_CHECKING:
    import ccxt   # the types are the full package's: the classes are the same
else:
    ccxt = _lite()

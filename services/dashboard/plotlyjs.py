"""Which plotly.js the dashboard serves: the official partial bundle `make` installs, or Dash's full one.

Dash's dcc.Graph draws with `window.Plotly` when the page already has it, and only otherwise
loads Dash's full plotly.js (4.8 MB, every trace type; evaluating it was most of the time until
the Overview's donut showed). We draw pie and scatter traces only, so the app serves plotly.js's
official "basic" bundle (bar, pie, scatter; 1.2 MB) as a script of the page. It is not in git:
`make` fetches the pinned npm tarball (Makefile, PLOTLY_JS_*) into vendor/. A missing or
mismatched bundle is logged and the page falls back to Dash's full bundle: slower, never broken.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from plotly.offline import get_plotlyjs_version

log = logging.getLogger("dashboard.plotly")

DEFAULT_BUNDLE = Path(__file__).resolve().parent / "vendor" / "plotly-basic.min.js"
# The bundle's licence header: "* plotly.js (basic - minified) v4.1.1"
_HEADER_VERSION = re.compile(rb"plotly\.js[^\n]*? v(\d+)\.(\d+)\.(\d+)")
_HEADER_BYTES = 512
INSTALL_HINT = "`make plotly-bundle` installs it (needs npm)"


@dataclass(frozen=True)
class PlotlyBundle:
    path: Path
    version: str
    digest: str   # of the content: the URL changes with the file, so browsers may cache it for a year

    def url(self, route: str) -> str:
        return f"{route}?v={self.digest}"


def header_version(head: bytes) -> str | None:
    """The plotly.js version in a bundle's licence header, or None if the header names none."""
    m = _HEADER_VERSION.search(head)
    return ".".join(g.decode() for g in m.groups()) if m else None


def load_bundle(path: Path, expected: str | None = None) -> PlotlyBundle | None:
    """The bundle at `path` if it is a plotly.js of the major version plotly.py draws for; else None, logged.

    `expected` defaults to the plotly.js version of the installed plotly.py (the one Dash's own
    bundle is): another major version could draw the same figure differently.
    """
    expected = expected or get_plotlyjs_version()
    try:
        content = path.read_bytes()
    except OSError as exc:
        log.warning("plotly.js partial bundle %s not readable (%s); serving Dash's full plotly.js "
                    "(4.8 MB, the first chart shows about a second later); %s",
                    path, exc.strerror or exc, INSTALL_HINT)
        return None
    version = header_version(content[:_HEADER_BYTES])
    if version is None or version.split(".")[0] != expected.split(".")[0]:
        log.warning("plotly.js bundle %s is version %s, but plotly.py draws for plotly.js %s; serving Dash's "
                    "full plotly.js instead; %s", path, version or "unknown (no version in its header)",
                    expected, INSTALL_HINT)
        return None
    log.info("serving plotly.js %s from %s (%.1f MB)", version, path, len(content) / 1e6)
    return PlotlyBundle(path, version, hashlib.sha256(content).hexdigest()[:16])

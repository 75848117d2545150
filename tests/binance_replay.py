"""A tiny loopback HTTP server that answers Binance USD-M paths with recorded answers (tests/fixtures/binance).

The real ccxt adapter talks to it exactly as to Binance (signed requests, X-MBX-APIKEY header);
only the base URL differs. Each path answers a fixed JSON body (or a callable of the query),
and every request is recorded so a test can say which endpoints were called.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance"

Answer = Any | Callable[[Mapping[str, str]], Any]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class BinanceReplay:
    """`with BinanceReplay({"/fapi/v3/account": fixture(...)}) as sim: sim.url`"""

    def __init__(self, routes: Mapping[str, Answer]) -> None:
        self.routes = dict(routes)
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                replay.requests.append((parts.path, query, self.headers.get("X-MBX-APIKEY")))
                answer = replay.routes.get(parts.path)
                if answer is None:
                    return self._send(400, {"code": -5000, "msg": f"Path {parts.path}, Method GET is invalid"})
                if not self.headers.get("X-MBX-APIKEY"):
                    return self._send(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
                body = answer(query) if callable(answer) else answer
                return self._send(200, body)

            def _send(self, status: int, body: Any) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        return [p for p, _q, _k in self.requests]

    def __enter__(self) -> BinanceReplay:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

"""`navstream-healthcheck SERVICE`: is this service's heartbeat fresh? For container healthcheck.

Standard library only, and a few milliseconds per run: it speaks just enough of the Redis
protocol to AUTH, SELECT and GET `hedge:health:<service>`, without importing redis-py,
pydantic or the CLI (a compose healthcheck runs every few seconds in every container).
Reads REDIS_URL, REDIS_PASSWORD (or the secret file /run/secrets/redis_password) and
KEY_PREFIX like the services. Exit 0 healthy (status ok, or degraded unless --strict),
1 unhealthy (no heartbeat, stale, error), 3 Redis unreachable. `navstream status` judges
heartbeats by the same rule (HEALTHY_STATUSES, STALE_AFTER_S).

What it imports is kept to the interpreter's own start-up: `_socket` rather than `socket`
(whose enums cost 5 ms), the C JSON scanner rather than `json` (which compiles regular
expressions), and its own URL split rather than urllib.parse; ssl only for rediss://. A run
costs about 10 ms of CPU instead of 30 (benchmarks: BENCHMARKS.md, "At rest").
"""

from __future__ import annotations

import os
import sys
import time

import _socket

from shared.redis_url import env_or_secret

STALE_AFTER_S = 15.0
HEALTHY_STATUSES = ("ok", "degraded")
EXIT_OK, EXIT_UNHEALTHY, EXIT_NO_REDIS = 0, 1, 3
TIMEOUT_S = 2.0


class RespError(Exception):
    """Redis answered with an error, or with something that is not RESP."""


def judge(status: str, age_s: float, *, strict: bool = False) -> tuple[bool, str]:
    """(healthy, status text) of a heartbeat that says `status` and is `age_s` old."""
    if age_s > STALE_AFTER_S:
        return False, f"stale ({age_s:.0f} s)"
    healthy = status == "ok" or (not strict and status in HEALTHY_STATUSES)
    return healthy, status


def _command(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Reader:
    """Replies off a socket, one RESP line or bulk at a time (no `makefile`: `_socket` has none)."""

    def __init__(self, sock) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by Redis")
        self.buf += chunk

    def readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def read(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._fill()
        data, self.buf = self.buf[:size], self.buf[size:]
        return data


def _reply(f: _Reader) -> bytes | None:
    line = f.readline()
    kind, body = line[:1], line[1:-2]
    if kind == b"-":
        raise RespError(body.decode(errors="replace"))
    if kind in (b"+", b":"):
        return body
    if kind == b"$":
        size = int(body)
        return None if size < 0 else f.read(size + 2)[:-2]
    raise RespError(f"unexpected reply {line[:20]!r}")


def _unquote(text: str) -> str:
    """Percent-decoding (UTF-8), as urllib.parse.unquote does for a URL's user and password."""
    if "%" not in text:
        return text
    head, *rest = text.split("%")
    out = bytearray(head.encode())
    for part in rest:
        try:
            out += bytes([int(part[:2], 16)]) + part[2:].encode()
        except ValueError:
            out += b"%" + part.encode()
    return out.decode(errors="replace")


class RedisAddress:
    """The parts of a redis:// or rediss:// URL the healthcheck needs (what urlsplit would give)."""

    def __init__(self, url: str) -> None:
        scheme, _, rest = url.partition("://")
        self.tls = scheme == "rediss"
        netloc, _, path = rest.partition("/")
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, password = userinfo.partition(":")
        self.username = _unquote(user) if user else None      # redis://user@host has no password
        self.password = _unquote(password) if sep and password else None
        if hostport.startswith("["):                    # [::1]:6379
            host, _, port = hostport[1:].partition("]")
            port = port.lstrip(":")
        else:
            host, _, port = hostport.partition(":")
        self.host = host or "127.0.0.1"
        self.port = int(port) if port else 6379
        self.db = path.split("?", 1)[0] or "0"


def _connect(addr: RedisAddress):
    # an ASCII host as bytes: a str goes through the idna codec (3 ms to import)
    host: str | bytes = addr.host.encode() if addr.host.isascii() else addr.host
    family, kind, proto, _, sockaddr = _socket.getaddrinfo(host, addr.port, 0, _socket.SOCK_STREAM)[0]
    sock = _socket.socket(family, kind, proto)
    sock.settimeout(TIMEOUT_S)
    try:
        sock.connect(sockaddr)
    except OSError:
        sock.close()
        raise
    if addr.tls:
        import socket  # only TLS needs these (ssl wraps a socket.socket)
        import ssl

        plain = socket.socket(family, kind, proto, fileno=sock.detach())
        return ssl.create_default_context().wrap_socket(plain, server_hostname=addr.host)
    return sock


def fetch(url: str, key: str, password: str | None = None) -> bytes | None:
    """GET `key` from the Redis at `url` (AUTH and SELECT as the URL says; `password` if it has none)."""
    addr = RedisAddress(url)
    commands = []
    secret = addr.password or password
    if secret:
        user = [addr.username] if addr.username else []
        commands.append(_command("AUTH", *user, secret))
    if addr.db != "0":
        commands.append(_command("SELECT", addr.db))
    commands.append(_command("GET", key))
    sock = _connect(addr)
    try:
        sock.sendall(b"".join(commands))
        reader = _Reader(sock)
        replies = [_reply(reader) for _ in commands]
    finally:
        sock.close()
    return replies[-1]


def _parse_json(raw: bytes):
    """The heartbeat document, by the C scanner behind `json` (json itself imports and compiles re)."""
    try:
        import _json
    except ImportError:                    # not CPython: the json module does the same
        import json

        return json.loads(raw)

    class _Context:
        strict, object_hook, object_pairs_hook = True, None, None
        parse_float, parse_int = float, int

        @staticmethod
        def parse_constant(name: str) -> float:
            return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]

    text = raw.decode()
    start = len(text) - len(text.lstrip())
    # the scanner reads only these attributes of its context (a JSONDecoder in json itself)
    doc, end = _json.make_scanner(_Context)(text, start)  # type: ignore[arg-type]
    if text[end:].strip():
        raise ValueError(f"extra data after the JSON document at {end}")
    return doc


def health_key(service: str) -> str:
    """`<KEY_PREFIX>:health:<service>`, as shared.keys.Keys.health names it (a test holds them equal;
    importing shared.keys would bring dataclasses and inspect, 10 ms a run)."""
    return f"{os.environ.get('KEY_PREFIX') or 'hedge'}:health:{service}"


def check(service: str, *, strict: bool = False, now: float | None = None) -> tuple[int, str]:
    """(exit code, one line) for `service`'s heartbeat."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    key = health_key(service)
    try:
        raw = fetch(url, key, env_or_secret("REDIS_PASSWORD"))
    except (OSError, RespError, ValueError) as exc:
        return EXIT_NO_REDIS, f"{service}: cannot read {key}: {exc}"
    if raw is None:
        return EXIT_UNHEALTHY, f"{service}: no heartbeat ({key} is missing or expired)"
    try:
        doc = _parse_json(raw)
        age = max(0.0, (time.time() if now is None else now) - float(doc["ts"]))
        healthy, text = judge(str(doc["status"]), age, strict=strict)
    except (ValueError, KeyError, TypeError, StopIteration) as exc:
        return EXIT_UNHEALTHY, f"{service}: unreadable heartbeat in {key}: {exc!r}"
    return (EXIT_OK if healthy else EXIT_UNHEALTHY), f"{service}: {text} ({age:.1f} s ago)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    strict = "--strict" in args
    names = [a for a in args if a != "--strict"]
    if len(names) != 1 or names[0].startswith("-"):
        print("usage: navstream-healthcheck [--strict] SERVICE", file=sys.stderr)
        return 2
    code, line = check(names[0], strict=strict)
    print(line, file=sys.stdout if code == EXIT_OK else sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""`navstream-healthcheck SERVICE`: is this service's heartbeat fresh? For container healthchecks.

Standard library only, and a few milliseconds per run: it speaks just enough of the Redis
protocol to AUTH, SELECT and GET `hedge:health:<service>`, without importing redis-py,
pydantic or the CLI (a compose healthcheck runs every few seconds in every container).
Reads REDIS_URL, REDIS_PASSWORD (or the secret file /run/secrets/redis_password) and
KEY_PREFIX like the services. Exit 0 healthy (status ok, or degraded unless --strict),
1 unhealthy (no heartbeat, stale, error), 3 Redis unreachable. `navstream status` judges
heartbeats by the same rule (HEALTHY_STATUSES, STALE_AFTER_S).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from urllib.parse import parse_qs, unquote, urlsplit

from shared.keys import Keys
from shared.redis_url import env_or_secret, url_with_password

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


def command(*args: str) -> bytes:
    """One Redis command in RESP."""
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _reply(f) -> bytes | None:
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by Redis")
    kind, body = line[:1], line[1:-2]
    if kind == b"-":
        raise RespError(body.decode(errors="replace"))
    if kind in (b"+", b":"):
        return body
    if kind == b"$":
        size = int(body)
        return None if size < 0 else f.read(size + 2)[:-2]
    raise RespError(f"unexpected reply {line[:20]!r}")


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(TIMEOUT_S)
        try:
            sock.connect(parts.path)
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=TIMEOUT_S)
    if parts.scheme == "rediss":
        import ssl  # 10 ms to import; only TLS needs it

        query = parse_qs(parts.query)
        cafile = query["ssl_ca_certs"][0] if query.get("ssl_ca_certs") else None
        context = ssl.create_default_context(cafile=cafile)
        if (query.get("ssl_cert_reqs") or ["required"])[0].lower() in ("none", "optional"):
            context.check_hostname = False   # as redis-py's ?ssl_cert_reqs=none
            context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    return sock


def _db(url: str) -> str:
    """The database number of a Redis URL, as redis-py reads it: ?db=N, else the path (/N), else 0."""
    parts = urlsplit(url)
    found = parse_qs(parts.query).get("db")
    if found:
        return found[0]
    if parts.scheme == "unix":
        return "0"
    return (parts.path or "/0").lstrip("/") or "0"


def query(url: str, commands: list[bytes]) -> list[bytes | None]:
    """Send `commands` (see `command`) to the Redis at `url`, after AUTH and SELECT as the URL says;
    their replies, in order. OSError when Redis cannot be reached, RespError when it refuses."""
    parts = urlsplit(url)
    setup = []
    if parts.password:
        user = [unquote(parts.username)] if parts.username else []
        setup.append(command("AUTH", *user, unquote(parts.password)))
    db = _db(url)
    if db != "0":
        setup.append(command("SELECT", db))
    with _connect(url) as sock, sock.makefile("rb") as f:
        sock.sendall(b"".join(setup + commands))
        replies = [_reply(f) for _ in setup + commands]
    return replies[len(setup):]


def fetch(url: str, key: str) -> bytes | None:
    """GET `key` from the Redis at `url` (AUTH and SELECT as the URL says)."""
    return query(url, [command("GET", key)])[0]


def check(service: str, *, strict: bool = False, now: float | None = None) -> tuple[int, str]:
    """(exit code, one line) for `service`'s heartbeat."""
    url = url_with_password(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
                            env_or_secret("REDIS_PASSWORD"))
    key = Keys(os.environ.get("KEY_PREFIX") or "hedge").health(service)
    try:
        raw = fetch(url, key)
    except (OSError, RespError) as exc:
        return EXIT_NO_REDIS, f"{service}: cannot read {key}: {exc}"
    if raw is None:
        return EXIT_UNHEALTHY, f"{service}: no heartbeat ({key} is missing or expired)"
    try:
        doc = json.loads(raw)
        age = max(0.0, (time.time() if now is None else now) - float(doc["ts"]))
        healthy, text = judge(str(doc["status"]), age, strict=strict)
    except (ValueError, KeyError, TypeError) as exc:
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

"""Logging setup for every service: one line per event on stderr, secrets redacted.

Two formats (LOG_FORMAT): `text` (`2026-12-02T07:40:55.123Z INFO    nav: message`) and
`json` (one JSON object per line: ts, level, service, logger, msg, and exc when there is
one). Timestamps are UTC with a `Z` in both. The redaction filter sits on the handler,
so it covers every logger in the process, ccxt's DEBUG request dumps (which include the
X-MBX-APIKEY header) included. `rotating_file()` is the size-rotated logs/<service>.log
that `navstream up` writes.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

_PATTERNS = [
    # header and query forms ccxt and requests print at DEBUG
    re.compile(r"(?i)(x-mbx-apikey['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+"),
    re.compile(r"(?i)(signature=)[0-9a-f]+"),
    re.compile(r"(?i)((?:api[_-]?key|api[_-]?secret|secret|password|x-cg-[a-z-]+-key)['\"]?\s*[:=]\s*['\"]?)[^'\",\s}&]+"),
    re.compile(r"(redis://[^:/@\s]*:)[^@\s]+(@)"),
]
REDACTED = "***"


class RedactingFilter(logging.Filter):
    """Replace every known secret value, and anything that looks like a credential, with ***."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, message: str) -> str:
        for secret in self.secrets:
            message = message.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            message = pattern.sub(lambda m: m.group(1) + REDACTED + (m.group(2) if m.re.groups > 1 else ""), message)
        return message

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def add_secrets(values: Iterable[str]) -> None:
    """Redact more secret values (keys read after logging was set up, e.g. per-account API keys)."""
    extra = [v for v in values if v and len(v) >= 4]
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                f.secrets = sorted(set(f.secrets) | set(extra), key=len, reverse=True)


LOG_FORMATS = ("text", "json")


class UtcFormatter(logging.Formatter):
    """`%(asctime)s` as UTC ISO 8601 with milliseconds and a Z: 2026-12-02T07:40:55.123Z."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(UtcFormatter):
    """One JSON object per line: {"ts", "level", "service", "logger", "msg"[, "exc"]}."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": self.formatTime(record), "level": record.levelname, "service": self.service,
               "logger": record.name, "msg": record.getMessage()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False, default=str)


def formatter(service: str, fmt: str = "text") -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(service)
    return UtcFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def rotating_file(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """A handler that appends lines to `path` as they are, rotating at `max_bytes` (path.1 ... path.N)."""
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                   encoding="utf-8", errors="replace")
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def setup_logging(service: str, level: str = "INFO", secrets: Iterable[str] = (),
                  fmt: str = "text") -> logging.Logger:
    """Configure the root logger for `service` (format `text` or `json`); returns the service's logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(service, fmt))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries stay at INFO unless the operator asks for DEBUG explicitly.
    for noisy in ("urllib3", "werkzeug", "waitress"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    return logging.getLogger(service)

"""Logging setup for every service: one line per event on stderr, secrets redacted.

The redaction filter sits on the handler, so it covers every logger in the process,
ccxt's DEBUG request dumps (which include the X-MBX-APIKEY header) included.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

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


def setup_logging(service: str, level: str = "INFO", secrets: Iterable[str] = ()) -> logging.Logger:
    """Configure the root logger for `service`; returns the service's logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries stay at INFO unless the operator asks for DEBUG explicitly.
    for noisy in ("urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    return logging.getLogger(service)

"""Redis URLs and secret files with the standard library only (the container healthcheck uses it
without importing redis-py or pydantic; shared/settings.py builds on it)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

DEFAULT_SECRETS_DIR = "/run/secrets"


def secrets_dir() -> str | None:
    """Where secrets arrive as files (compose `secrets`: /run/secrets/<name>); SECRETS_DIR moves it."""
    path = os.environ.get("SECRETS_DIR", DEFAULT_SECRETS_DIR)
    return path if os.path.isdir(path) else None


def secret_file(name: str) -> str | None:
    """The secret file of variable `name` (lower case, in the secrets folder); None if absent or empty."""
    folder = secrets_dir()
    path = Path(folder, name.lower()) if folder else None
    if path is not None and path.is_file():
        return path.read_text().strip() or None
    return None


def env_or_secret(name: str) -> str | None:
    """The variable `name` from the environment, else the secret file of that name (lower case)."""
    value = os.environ.get(name, "").strip()
    return value or secret_file(name)


def url_with_password(url: str, password: str | None) -> str:
    """`url` with `password` put in, percent-encoded, unless the URL carries one already.

    A password with `/`, `#`, `@` or `:` written into a URL as it is would end the host part
    early; percent-encoded, redis-py (and our healthcheck) decode it again.
    """
    parts = urlsplit(url)
    if not password or parts.password or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    user = quote(unquote(parts.username), safe="") if parts.username else ""
    host = rest.split("@", 1)[-1]
    return f"{scheme}://{user}:{quote(password, safe='')}@{host}"

# One image for every navstream service; compose.yaml picks the service with `command`.
# PYTHON_IMAGE is the public python:3.11-slim by default; where Docker Hub cannot be reached,
# `.ci/docker-standins` builds a stand-in from Debian (README "Docker compose", "Without Docker Hub").
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="navstream" \
      org.opencontainers.image.description="Live, honest NAV/AUM telemetry for a crypto fund" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/navstream/navstream" \
      org.opencontainers.image.version="0.1.0"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/navstream PATH=/opt/navstream/bin:$PATH

# Dependencies first, exactly as locked (hashes checked): this layer is rebuilt only when the lock changes.
COPY requirements.lock /tmp/requirements.lock
RUN python3 -m venv /opt/navstream \
    && pip install --quiet --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock

# Then navstream itself (no tests, no benchmarks: .dockerignore lets only these in). services/
# brings the dashboard's plotly.js partial bundle if `make` fetched it on the host (the image
# has no npm; the wheel ships it as an artifact); without it the dashboard logs a warning and
# serves Dash's full plotly.js.
COPY pyproject.toml README.md LICENSE /tmp/navstream/
COPY config /tmp/navstream/config
COPY shared /tmp/navstream/shared
COPY services /tmp/navstream/services
RUN pip install --quiet --no-deps /tmp/navstream \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin navstream \
    && mkdir -p /app/logs/state /app/logs/dashboard_state /app/var && cp -r /tmp/navstream/config /app/config \
    && chown -R navstream /app/logs /app/var && rm -rf /tmp/navstream

# /app/var is the ledger's SQLite record: a new named volume mounted there takes this folder's owner,
# so the ledger (user navstream) can write it. /app/config holds the demo config; compose bind-mounts the host's config/ over it, read-only,
# so the holdings file is edited on the host and hot-reloaded.
WORKDIR /app
USER navstream
CMD ["navstream", "--help"]

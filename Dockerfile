# One image for every navstream service; compose picks the service with `command`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY benchmarks ./benchmarks
COPY config ./config
RUN pip install . && useradd --system --uid 10001 --home /app navstream \
    && mkdir -p /app/logs/state /app/logs/dashboard_state && chown -R navstream /app/logs

USER navstream
CMD ["python", "-m", "services.pricer"]

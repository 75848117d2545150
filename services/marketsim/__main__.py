"""`python -m services.marketsim`: the loopback Binance/CoinGecko stand-in, fills and heartbeat."""

from __future__ import annotations

import signal
import sys
import threading

from services.marketsim.config import load_config
from services.marketsim.fills_writer import FillsWriter
from services.marketsim.server import SimServer
from services.marketsim.specs import DEFAULT_ACCOUNTS, extra_accounts
from services.marketsim.state import SimState
from shared.service import exits_on_config_error
from shared.logs import setup_logging
from shared.metrics import serve_metrics
from shared.settings import load_settings


@exits_on_config_error("marketsim")
def main() -> int:
    settings = load_settings()
    config = load_config()
    log = setup_logging("marketsim", settings.log_level, settings.secret_values(), fmt=settings.log_format)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    serve_metrics("marketsim", settings)
    sim = SimState(seed=config.seed, funding_interval_s=config.funding_interval_s,
                   accounts=DEFAULT_ACCOUNTS + extra_accounts(config.extra_accounts))
    try:
        server = SimServer((config.bind, settings.marketsim_port), sim, stop)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s; not starting", config.bind, settings.marketsim_port, exc)
        return 1
    http = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                            name="marketsim-http", daemon=True)
    fills = FillsWriter(sim, settings, interval_s=config.fill_interval_s, stop=stop, seed=config.seed,
                        gauges={"port": settings.marketsim_port, "fill_interval_s": config.fill_interval_s})
    http.start()
    fills.start()
    log.info("listening on http://%s:%d (seed %d); fills every %s s to %s on %s; accounts %s; "
             "funding every %s s", config.bind, settings.marketsim_port, config.seed,
             config.fill_interval_s or "never (off)", settings.keys.fills, settings.redacted_redis_url(),
             ", ".join(sim.account_names), config.funding_interval_s or "never (off)")
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    fills.join(timeout=2.0)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `navstream` command: run the system, inspect it, steer the simulator, set a manual NAV."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from services.ledger.cli import register as register_ledger_commands
from shared.errors import ConfigError, NavstreamError
from shared.keys import SERVICES
from shared.settings import Mode, Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_REDIS = 0, 1, 2, 3

EXIT_CODES = """\
exit codes:
  0  ok
  1  unhealthy (status), or the command failed
  2  usage error, or a bad setting or config file (one line names it)
  3  Redis unreachable (or it refused the password)"""

ENVIRONMENT = """\
environment (the shared and ledger settings: `navstream config`; README "Settings"):
  REDIS_URL        the Redis to use, e.g. redis://127.0.0.1:6379/0; unset, commands use the
                   embedded Redis of a `navstream up` running in this folder (var/redis.url)
  REDIS_PASSWORD   put into REDIS_URL percent-encoded (or the file /run/secrets/redis_password)
  MODE             sim (default, marketsim stands in for Binance and CoinGecko), testnet, live
  LOG_LEVEL, LOG_FORMAT   INFO/DEBUG/...; text (default) or json"""

DESCRIPTION = f"""\
navstream: live, honest NAV/AUM telemetry for a crypto fund.

{ENVIRONMENT}

{EXIT_CODES}"""


def _version() -> str:
    try:
        return version("navstream")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _redis_url(settings: Settings) -> str:
    """REDIS_URL, else the embedded Redis of a `navstream up` running here; never a silent default."""
    from services.supervisor import EMBEDDED_URL_FILE

    if settings.redis_url:
        return settings.effective_redis_url
    if EMBEDDED_URL_FILE.exists():
        return settings.redis_url_for(EMBEDDED_URL_FILE.read_text().strip())
    raise ConfigError(f"no Redis to talk to: set REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379/0), or run "
                      f"this in the folder of a running `navstream up` (it writes {EMBEDDED_URL_FILE})")


def _redis(settings: Settings):
    from shared.redis_io import connect

    return connect(_redis_url(settings), name="navstream-cli")


# --- commands ---------------------------------------------------------------------

def _cmd_up(args: argparse.Namespace) -> int:
    from services.supervisor import run_up

    return run_up(load_settings(), root=Path.cwd())


def _cmd_status(args: argparse.Namespace) -> int:
    from services.status import expected_services, status_command

    settings = load_settings()
    services = args.service or expected_services(settings)
    return status_command(_redis(settings), settings.keys, services, sys.stdout, strict=args.strict,
                          as_json_doc=args.json)


def _cmd_config(args: argparse.Namespace) -> int:
    from services.config_view import render_settings

    print(render_settings(load_settings(), as_json=args.json))
    return EXIT_OK


def _sim_base() -> str:
    settings = load_settings()
    if settings.mode is not Mode.SIM:
        raise ConfigError(f"`navstream sim` steers marketsim, which only runs in MODE=sim "
                          f"(MODE is {settings.mode.value})")
    return f"http://{settings.marketsim_host}:{settings.marketsim_port}"


def _cmd_sim(args: argparse.Namespace) -> int:
    from services.marketsim import client

    base = _sim_base()
    if args.sim_cmd == "transfer":
        done = client.transfer(base, args.account, args.amount, args.asset, recorded=not args.unrecorded)
        print(f"{done['account']}: {done['amount']:+,.8g} {done['asset']}; wallet now {done['wallet']:,.8g} "
              + (f"(TRANSFER tranId {done['tran_id']})" if done["recorded"] else "(unrecorded: no income record)"))
        return 0
    if args.sim_cmd == "fault":
        active = client.set_fault(base, args.source, args.mode, args.symbol, delay_s=args.delay,
                                  account=args.account)
    elif args.sim_cmd == "clear":
        active = client.clear_faults(base, args.source)
    else:
        active = client.get_faults(base)
    print(f"active faults: {active}")
    return EXIT_OK


def _cmd_nav(args: argparse.Namespace) -> int:
    from services.nav.manual import clear_manual_nav, set_manual_nav

    settings = load_settings()
    r = _redis(settings)
    if args.nav_cmd == "explain":
        from services.nav.bookkeeper import request_explanation

        request_explanation(r, settings.keys, args.account, args.asset, args.note or "")
        print(f"explanation recorded for account {args.account} {args.asset.upper()}; the nav service clears "
              "that reconciliation break at its next poll and keeps the note with the reconciliation state")
        return EXIT_OK
    if args.nav_cmd == "set":
        set_manual_nav(r, settings.keys, args.value, args.note or "")
        print(f"manual NAV set to {args.value:,.2f} USD; snapshots now say source \"manual\" "
              "(`navstream nav clear` returns to live account data)")
    else:
        clear_manual_nav(r, settings.keys)
        print("manual NAV cleared; snapshots return to live account data")
    return EXIT_OK


# --- the parser -------------------------------------------------------------------

def _subparser(sub, name: str, help_: str, description: str, func: Callable | None = None, *,
               epilog: str = EXIT_CODES) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_, description=description, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def _add_up(sub) -> None:
    _subparser(sub, "up", "run the whole system on this machine (no Docker)",
               "Start Redis (embedded, unless REDIS_URL is set), marketsim (MODE=sim), the pricer, nav, "
               "publisher, ledger and dashboard; one line per step, then a \"ready\" line once every heartbeat is in. "
               "Restarts a crashed service with backoff; Ctrl-C or SIGTERM stops everything within 10 s. "
               "Logs go to logs/<service>.log (rotated at LOG_MAX_BYTES), data to var/ and logs/state/.",
               _cmd_up, epilog=f"{ENVIRONMENT}\n  DASH_HOST, DASH_PORT   where the dashboard listens "
                               f"(127.0.0.1:8050)\n\n{EXIT_CODES}")


def _add_status(sub) -> None:
    st = _subparser(sub, "status", "heartbeats, stream lengths, consumer lag; exit 1 if unhealthy",
                    "Each service's heartbeat (fresh within 15 s, status ok or degraded), the streams' "
                    "lengths and newest entries, and the consumer groups' lag. For cron jobs and monitors.",
                    _cmd_status)
    st.add_argument("--service", action="append", choices=SERVICES, metavar="SERVICE",
                    help=f"check only this service (repeatable; one of {', '.join(SERVICES)})")
    st.add_argument("--strict", action="store_true", help="a degraded service (fallback data) counts as unhealthy")
    st.add_argument("--json", action="store_true", help="print one JSON document instead of the table")


def _add_config(sub) -> None:
    cfg = _subparser(sub, "config", "print the shared and the ledger's settings (secrets redacted)",
                     "The shared settings (shared/settings.py) as the services would read them from this "
                     "environment (and the secrets folder), with the URLs each mode derives, then the ledger's "
                     "(DATABASE_URL, FUND_ID, UNIT_INCEPTION_PRICE, STRIKE_*, LEDGER_*); secrets show as *** (set) or "
                     "stay empty. Not shown: the publisher's PUBLISHER_* and marketsim's own knobs "
                     "(MARKETSIM_SEED, ...); README \"publisher\" and \"marketsim\" list them.",
                     _cmd_config)
    cfg.add_argument("--json", action="store_true", help="print one JSON object instead of NAME=value lines")


def _add_sim(sub) -> None:
    from services.marketsim.faults import MODES

    sources = ["mark", "spot", "coingecko", "account"]
    sim = _subparser(sub, "sim", "inject faults and transfers into marketsim (MODE=sim)",
                     "Steer the running marketsim (MARKETSIM_HOST:MARKETSIM_PORT): make a source fail in a "
                     "chosen way, list or clear the faults, move money in or out of an account.", _cmd_sim)
    sim_sub = sim.add_subparsers(dest="sim_cmd", required=True, metavar="{fault,clear,faults,transfer}")
    fault = _subparser(sim_sub, "fault", "make a source fail, e.g. `navstream sim fault mark down`",
                       "Make SOURCE fail with MODE until cleared, e.g. `navstream sim fault coingecko 429 BTC`.")
    fault.add_argument("source", choices=sources, help="which source: Binance mark prices, spot, CoinGecko, account")
    fault.add_argument("mode", choices=list(MODES), help="how it fails")
    fault.add_argument("symbol", nargs="?", help="only this asset or market (default: all)")
    fault.add_argument("--delay", type=float, default=None, help="seconds, for mode slow")
    fault.add_argument("--account", help="source account only: just this account's API key (e.g. sub1)")
    transfer = _subparser(sim_sub, "transfer", "move money, e.g. `navstream sim transfer main -1000 USDT`",
                          "Deposit (AMOUNT > 0) or withdraw (< 0) ASSET in a simulated account, with the "
                          "TRANSFER income record Binance would show, or --unrecorded without it.")
    transfer.add_argument("account", help="simulated account (main, sub1)")
    transfer.add_argument("amount", type=float, help="> 0 deposit, < 0 withdrawal")
    transfer.add_argument("asset", help="USDT, USDC, ...")
    transfer.add_argument("--unrecorded", action="store_true",
                          help="change the wallet without a TRANSFER income record (a reconciliation break)")
    clear = _subparser(sim_sub, "clear", "clear all faults (or one source's)", "Clear the faults of SOURCE, or all.")
    clear.add_argument("source", nargs="?", choices=sources, help="only this source's faults (default: all)")
    _subparser(sim_sub, "faults", "list active faults", "List the faults marketsim is applying now.")


def _add_nav(sub) -> None:
    nav = _subparser(sub, "nav", "operator-set NAV, for when no exchange keys exist",
                     "Publish an operator-set futures NAV (source \"manual\" on every snapshot) until cleared.",
                     _cmd_nav)
    nav_sub = nav.add_subparsers(dest="nav_cmd", required=True, metavar="{set,clear,explain}")
    nav_set = _subparser(nav_sub, "set", "publish this NAV (USD) with source \"manual\"",
                         "Publish VALUE (USD) as nav_total, marked source \"manual\", until `navstream nav clear`.")
    nav_set.add_argument("value", type=float, help="the futures NAV in USD, e.g. 125000.50")
    nav_set.add_argument("--note", help="why, shown to operators")
    _subparser(nav_sub, "clear", "return to live account data", "Stop the manual NAV; snapshots use the account again.")
    explain = _subparser(nav_sub, "explain", "explain an account's reconciliation break (clears it)",
                         "Record what explains ACCOUNT's ASSET wallet movement; the nav service clears that "
                         "reconciliation break at its next poll and keeps the note.")
    explain.add_argument("account", help="the account, as ACCOUNTS_FILE names it (e.g. main)")
    explain.add_argument("asset", help="the margin asset whose wallet moved (e.g. USDT)")
    explain.add_argument("--note", required=True, help="what explains the wallet's movement")


def _add_bench(sub) -> None:
    _subparser(sub, "bench", "benchmark the pipeline (BENCHMARKS.md; `navstream bench --help`)",
               "Throughput, latency and dashboard benchmarks of a local pipeline; options: `navstream bench --help`.")


REGISTRARS: list[Callable] = [_add_up, _add_status, _add_config, _add_sim, _add_nav, register_ledger_commands,
                              _add_bench]
"""Each adds its subcommands to the subparsers object; other modules append theirs here."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="navstream", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"navstream {_version()}")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def _bench(argv: list[str]) -> int:
    try:
        from benchmarks.run import main as bench_main
    except ModuleNotFoundError as exc:
        print(f"navstream: bench needs the benchmarks of a source checkout, which this installation lacks "
              f"({exc}); run `make bench` in a clone", file=sys.stderr)
        return EXIT_USAGE
    return bench_main(argv)


def _run(args: argparse.Namespace) -> int:
    import redis

    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"navstream: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (redis.ConnectionError, redis.TimeoutError) as exc:   # AuthenticationError included
        print(f"navstream: cannot reach Redis: {exc}", file=sys.stderr)
        return EXIT_NO_REDIS
    except NavstreamError as exc:
        print(f"navstream: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:   # `navstream config | head`: the reader left, nothing to report
        sys.stderr.close()
        return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        # the benchmark has its own options (--quick, ...); argparse.REMAINDER would stop at them
        return _bench(argv[1:])
    return _run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

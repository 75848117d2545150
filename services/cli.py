"""The `navstream` command: run the system, inspect it, steer the simulator, set a manual NAV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from services.ledger.cli import register as register_ledger_commands
from shared.errors import ConfigError, NavstreamError
from shared.keys import SERVICES
from shared.settings import Mode, load_settings


def _redis():
    """A client for REDIS_URL, else for the embedded Redis of a `navstream up` running here."""
    from services.supervisor import EMBEDDED_URL_FILE
    from shared.redis_io import connect

    settings = load_settings()
    url = settings.redis_url
    if url is None and EMBEDDED_URL_FILE.exists():
        url = EMBEDDED_URL_FILE.read_text().strip()
    return connect(url or settings.effective_redis_url, name="navstream-cli")


def _cmd_up(args: argparse.Namespace) -> int:
    from services.supervisor import Supervisor

    return Supervisor(load_settings(), root=Path.cwd()).run()


def _cmd_status(args: argparse.Namespace) -> int:
    from services.status import expected_services, status_command

    settings = load_settings()
    r = _redis()
    services = args.service or expected_services(settings)
    return status_command(r, settings.keys, services, sys.stdout, strict=args.strict)


def _sim_base() -> str:
    settings = load_settings()
    if settings.mode is not Mode.SIM:
        raise ConfigError(f"`navstream sim` steers marketsim, which only runs in MODE=sim (MODE is {settings.mode.value})")
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
    return 0


def _cmd_nav(args: argparse.Namespace) -> int:
    from services.nav.manual import clear_manual_nav, set_manual_nav

    settings = load_settings()
    r = _redis()
    if args.nav_cmd == "explain":
        from services.nav.bookkeeper import request_explanation

        request_explanation(r, settings.keys, args.account, args.asset, args.note or "")
        print(f"explanation recorded for account {args.account} {args.asset.upper()}; the nav service clears "
              "that reconciliation break at its next poll and keeps the note with the reconciliation state")
        return 0
    if args.nav_cmd == "set":
        set_manual_nav(r, settings.keys, args.value, args.note or "")
        print(f"manual NAV set to {args.value:,.2f} USD; snapshots now say source \"manual\" "
              "(`navstream nav clear` returns to live account data)")
    else:
        clear_manual_nav(r, settings.keys)
        print("manual NAV cleared; snapshots return to live account data")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="navstream", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    sub.add_parser("up", help="run the whole system on this machine (no Docker)").set_defaults(func=_cmd_up)

    st = sub.add_parser("status", help="heartbeats, stream lengths, consumer lag; exit 1 if unhealthy")
    st.add_argument("--service", action="append", choices=SERVICES, help="check only this service (repeatable)")
    st.add_argument("--strict", action="store_true", help="a degraded service (fallback data) counts as unhealthy")
    st.set_defaults(func=_cmd_status)

    from services.marketsim.faults import MODES

    sim = sub.add_parser("sim", help="inject faults and transfers into marketsim (sim mode)")
    sim_sub = sim.add_subparsers(dest="sim_cmd", required=True)
    fault = sim_sub.add_parser("fault", help="e.g. `navstream sim fault mark down` or `... coingecko 429 BTC`")
    fault.add_argument("source", choices=["mark", "spot", "coingecko", "account"])
    fault.add_argument("mode", choices=list(MODES))
    fault.add_argument("symbol", nargs="?", help="only this asset or market (default: all)")
    fault.add_argument("--delay", type=float, default=None, help="seconds, for mode slow")
    fault.add_argument("--account", help="source account only: just this account (e.g. sub1)")
    transfer = sim_sub.add_parser("transfer", help="e.g. `navstream sim transfer main -1000 USDT`")
    transfer.add_argument("account", help="simulated account (main, sub1)")
    transfer.add_argument("amount", type=float, help="> 0 deposit, < 0 withdrawal")
    transfer.add_argument("asset", help="USDT, USDC, ...")
    transfer.add_argument("--unrecorded", action="store_true",
                          help="change the wallet without a TRANSFER income record (a reconciliation break)")
    clear = sim_sub.add_parser("clear", help="clear all faults (or one source's)")
    clear.add_argument("source", nargs="?", choices=["mark", "spot", "coingecko", "account"])
    sim_sub.add_parser("faults", help="list active faults")
    sim.set_defaults(func=_cmd_sim)

    nav = sub.add_parser("nav", help="operator-set NAV, for when no exchange keys exist")
    nav_sub = nav.add_subparsers(dest="nav_cmd", required=True)
    nav_set = nav_sub.add_parser("set", help="publish this NAV (USD) with source \"manual\"")
    nav_set.add_argument("value", type=float)
    nav_set.add_argument("--note", help="why, shown to operators")
    nav_sub.add_parser("clear", help="return to live account data")
    nav_explain = nav_sub.add_parser("explain", help="explain an account's reconciliation break (clears it)")
    nav_explain.add_argument("account")
    nav_explain.add_argument("asset")
    nav_explain.add_argument("--note", required=True, help="what explains the wallet's movement")
    nav.set_defaults(func=_cmd_nav)

    register_ledger_commands(sub)   # db, flow, strike, ledger (services/ledger/cli.py)
    sub.add_parser("bench", help="benchmark the pipeline (see BENCHMARKS.md; `navstream bench --help`)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        # the benchmark has its own options (--quick, ...); argparse.REMAINDER would stop at them
        from benchmarks.run import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except NavstreamError as exc:
        print(f"navstream: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`navstream bench`: the pipeline benchmark (see BENCHMARKS.md).

Starts its own redis-server and the real marketsim (account only), nav and publisher
processes, drives them through the pricer's own publish path with synthetic rounds, and
prints one JSON document (stdout) and a readable table. Progress goes to stderr.
Never asserts timings: each figure is reported against its target.
"""

from __future__ import annotations

import argparse
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import psutil
import requests

from shared.settings import Settings
from services.harness import free_port

from benchmarks import dashboard as dash_bench
from benchmarks import rest as rest_bench
from benchmarks.baseline import measure_baseline
from benchmarks.feed import PricerFeed
from benchmarks.latency import run_latency
from benchmarks.pricer_weight import measure_pricer_weight
from benchmarks.record import add_record_options, record_plan, run_record_phase
from benchmarks.report import evaluate, render_table
from benchmarks.rig import KEYS, BenchError, Rig
from benchmarks.synthetic import PriceTape, RoundMaker
from benchmarks.throughput import prices_maxlen, run_throughput
from benchmarks.valuation import measure_valuation

SCHEMA = "navstream.bench.v1"
DEFAULT_SIZES = (10, 100, 1000, 10_000)
QUICK_SIZES = (10, 100)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="navstream bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small sizes and short phases (about 50 s; the smoke test uses it)")
    p.add_argument("--instruments", type=int, default=None,
                   help="holdings for the throughput, latency and dashboard phases (default 1000; quick 100)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds of the latency phase; each throughput run lasts a quarter of it "
                        "(default 10; quick 2)")
    p.add_argument("--sizes", default=None,
                   help="comma-separated instrument counts of the scaling curve (default 10,100,1000,10000)")
    p.add_argument("--rate", type=float, default=1000.0, help="offered load of the latency phase, updates/s")
    p.add_argument("--round-size", type=int, default=10,
                   help="updates per pricer round in the latency phase (rounds go out every round-size/rate s)")
    p.add_argument("--aof", action="store_true", help="run Redis with AOF (appendfsync always); default off")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium donut timing")
    p.add_argument("--json-only", action="store_true", help="print only the JSON result")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON result to this file")
    p.add_argument("--keep", action="store_true", help="keep the work dir (service logs, state files)")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="run nav and publisher under cProfile (CPU time) and write DIR/<service>.prof and .txt "
                        "(timings are then inflated: use it to find hot spots, not for figures)")
    add_record_options(p)
    p.add_argument("--rest-seconds", type=float, default=None,
                   help="seconds of the at-rest phase window (2 and 20 accounts; default 60, quick 5)")
    p.add_argument("--no-rest", action="store_true", help="skip the at-rest phase")
    return p


class Plan:
    """The run's sizes and durations, from the options."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.quick = args.quick
        self.instruments = args.instruments or (100 if args.quick else 1000)
        self.duration_s = args.duration or (2.0 if args.quick else 10.0)
        self.throughput_s = max(0.5, self.duration_s / 4)
        sizes = args.sizes.split(",") if args.sizes else (QUICK_SIZES if args.quick else DEFAULT_SIZES)
        self.sizes = [int(s) for s in sizes]
        self.rate = args.rate
        self.round_size = args.round_size
        self.baseline_s = 0.5 if args.quick else 2.0
        self.valuation_runs = 30 if args.quick else 200
        self.callback_runs = 5 if args.quick else 30
        self.browser_loads = 1 if args.quick else 5
        self.weight_s = 10.0 if args.quick else 60.0
        self.browser = not args.no_browser
        self.aof = args.aof
        self.record = record_plan(args)
        self.rest_s = None if args.no_rest else (args.rest_seconds or (5.0 if args.quick else 60.0))
        if self.instruments < 1 or any(n < 1 for n in self.sizes) or self.round_size < 1 or self.rate <= 0:
            raise ValueError("instrument counts, --round-size and --rate must be positive")


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the model stays "unknown"
    from services.supervisor import redis_server_binary
    version = subprocess.run([redis_server_binary(), "--version"], capture_output=True, text=True).stdout
    redis_version = next((w.split("=", 1)[1] for w in version.split() if w.startswith("v=")), version.strip())
    return {
        "nproc": os.cpu_count(), "cpu_model": model,
        "mem_total_mb": round(psutil.virtual_memory().total / 2**20),
        "python": platform.python_version(), "redis_version": redis_version,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }


class RssSampler(threading.Thread):
    """Samples each process's RSS every half second; keeps the peak."""

    def __init__(self, rig: Rig) -> None:
        super().__init__(name="bench-rss", daemon=True)
        self.rig = rig
        self.peak: dict[str, float] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            try:
                for name, mb in self.rig.rss_mb().items():
                    self.peak[name] = max(self.peak.get(name, 0.0), mb)
            except psutil.Error as exc:  # a process exited between listing and reading it
                _say(f"RSS sample skipped: {exc}")


def run_dashboard_phase(rig: Rig, plan: Plan, rss: dict) -> dict:
    out: dict = {}
    _say("dashboard: Overview callbacks (server time, in a child process)")
    out["callbacks"] = dash_bench.measure_callbacks(rig.redis.url, Path(rig.env["DASHBOARD_STATE_DIR"]),
                                                    plan.callback_runs)
    port = free_port()
    proc = rig.add_service("dashboard", DASH_PORT=str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        rig.wait_for(lambda: requests.get(f"{base}/", timeout=2).ok, "the dashboard to serve /")
        _say("dashboard: Overview refresh over HTTP")
        out["http"] = dash_bench.measure_http(base, plan.callback_runs)
        if plan.browser:
            _say("dashboard: donut in headless Chromium")
            try:
                out["donut"] = dash_bench.measure_donut(base, plan.browser_loads)
            except RuntimeError as exc:
                out["donut"] = {"error": str(exc)}
                _say(f"donut timing failed: {exc}")
        else:
            out["donut"] = {"skipped": "--no-browser"}
        rss.setdefault("dashboard", {})["after_dashboard"] = rig.rss_mb().get("dashboard")
    finally:
        proc.stop()
        del rig.procs["dashboard"]
    return out


def run_pipeline(rig: Rig, plan: Plan, result: dict) -> None:
    tape = PriceTape()
    default_maxlen = Settings().stream_maxlen
    feed = PricerFeed(rig.r, KEYS, default_maxlen)
    rss: dict[str, dict] = {}
    for name, mb in rig.rss_mb().items():
        rss.setdefault(name, {})["start"] = mb
    result["rss_mb"] = rss
    sampler = RssSampler(rig)
    sampler.start()
    try:
        _say(f"baseline: pipelined XADD for {plan.baseline_s:g} s")
        result["baseline"] = measure_baseline(rig.r, duration_s=plan.baseline_s, maxlen=default_maxlen)
        maker = RoundMaker(plan.instruments, tape)
        _say(f"throughput at {plan.instruments} instruments for {plan.throughput_s:g} s")
        tp = run_throughput(rig, feed, maker, duration_s=plan.throughput_s, default_maxlen=default_maxlen)
        tp["ratio_to_baseline"] = round(tp["consumed_per_s"] / result["baseline"]["xadd_per_s"], 3)
        result["throughput"] = tp
        _say(f"latency at {plan.rate:g} updates/s for {plan.duration_s:g} s")
        feed.maxlen = default_maxlen
        files = {"nav_json": Path(rig.env["STATE_DIR"]) / "nav.json",
                 "mirror_nav_json": Path(rig.env["DASHBOARD_STATE_DIR"]) / "nav.json"}
        result["latency"] = run_latency(rig, feed, maker, rate=plan.rate, round_size=plan.round_size,
                                        duration_s=plan.duration_s, files=files)
        for name, mb in rig.rss_mb().items():
            rss.setdefault(name, {})["after_latency"] = mb
        try:
            result["dashboard"] = run_dashboard_phase(rig, plan, rss)
        except (BenchError, RuntimeError, requests.RequestException, ImportError, AttributeError, KeyError) as exc:
            # The dashboard's interface may move under us; the pipeline figures still stand.
            message = f"dashboard phase failed ({type(exc).__name__}: {exc}); its figures are missing"
            _say(message)
            result["dashboard"] = {"error": message}
            result["notes"].append(message)
        rows = []
        for n in plan.sizes:
            _say(f"scaling: {n} instruments")
            rig.set_instruments(n)
            row = run_throughput(rig, feed, RoundMaker(n, tape), duration_s=plan.throughput_s,
                                 default_maxlen=default_maxlen)
            row["ratio_to_baseline"] = round(row["consumed_per_s"] / result["baseline"]["xadd_per_s"], 3)
            rows.append(row)
        result["scaling"] = rows
        for name, mb in rig.rss_mb().items():
            rss.setdefault(name, {})["end"] = mb
        result["redis_memory"] = rig.memory()
    finally:
        sampler.stop_event.set()
        sampler.join(2)
    for name, series in rss.items():   # the peak of the samples and of the phase readings
        series["peak"] = max([sampler.peak.get(name, 0.0), *(v for v in series.values() if v is not None)])


def write_profile_summary(prof: Path, out: Path, top: int = 40) -> None:
    """The top functions by cumulative and by own time, as text beside the .prof file."""
    if not prof.exists():
        _say(f"no profile at {prof} (did the service stop cleanly?)")
        return
    with open(out, "w") as fh:
        stats = pstats.Stats(str(prof), stream=fh)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)


def run_standalone_phases(plan: Plan, workdir: Path, result: dict) -> None:
    """The phases with systems of their own: the fund's record, and the whole system at rest."""
    if plan.record is not None:
        result["record"] = run_record_phase(workdir / "record", plan.record, result["notes"])
    if plan.rest_s:
        result["rest"] = rest_bench.run_phase(plan.rest_s, settle_s=3.0 if plan.quick else 15.0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        plan = Plan(args)
    except ValueError as exc:
        print(f"navstream bench: {exc}", file=sys.stderr)
        return 2
    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="navstream-bench-"))
    result: dict = {"schema": SCHEMA, "started_at": round(started, 3), "quick": plan.quick,
                    "machine": machine_info()}
    result["setup"] = {
        "instruments": plan.instruments, "sizes": plan.sizes, "redis_aof": plan.aof,
        "prices_maxlen": prices_maxlen(Settings().stream_maxlen, plan.instruments + 4),
        "nav_path": "live: marketsim's simulated account (3 positions), polled every 5 s; prices every round",
        "workdir": str(workdir),
    }
    result["notes"] = []
    _say(f"valuation: 1000 holdings + 200 positions, {plan.valuation_runs} runs")
    result["valuation"] = measure_valuation(1000, 200, plan.valuation_runs)
    _say(f"starting redis-server (AOF {'on' if plan.aof else 'off'}), marketsim, nav, publisher in {workdir}")
    rig = Rig(workdir, instruments=plan.instruments, aof=plan.aof, profile_dir=args.profile)
    code = 0
    try:
        rig.start()
        run_pipeline(rig, plan, result)
        _say(f"pricer request weight at the 1 s interval for {plan.weight_s:g} s")
        result["pricer_weight"] = measure_pricer_weight(rig, plan.weight_s)
    except BenchError as exc:
        print(f"navstream bench: {exc}", file=sys.stderr)
        result["error"] = str(exc)
        code = 1
    finally:
        rig.stop()
    if code == 0:
        run_standalone_phases(plan, workdir, result)
    if not args.keep and code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.profile:
        result["notes"].append(f"profiled run (cProfile on nav and publisher): timings are inflated; "
                               f"hot spots in {args.profile}/*.txt")
        for name in ("nav", "publisher"):
            write_profile_summary(args.profile / f"{name}.prof", args.profile / f"{name}.txt")
    result["seconds"] = round(time.time() - started, 1)
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    if code == 0:
        result["targets"] = evaluate(result)
    doc = orjson.dumps(result, option=orjson.OPT_INDENT_2)
    if args.out:
        args.out.write_bytes(doc + b"\n")
    sys.stdout.write(doc.decode() + "\n")
    if not args.json_only and code == 0:
        sys.stdout.write("\n" + render_table(result) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())

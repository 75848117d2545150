"""`python -m benchmarks.cpu_profile OUT MODULE [ARGS...]`: run MODULE as `__main__` under cProfile with a
CPU-time clock, and write the stats to OUT when it exits.

`python -m cProfile` times with the wall clock, so a service that spends most of its life
in a blocking XREADGROUP shows `recv_into` on top and hides where its CPU goes; with
`time.process_time` the profile shows what competes for the two cores.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m benchmarks.cpu_profile OUT MODULE [ARGS...]")
    out, module, *rest = argv
    sys.argv = [module, *rest]
    prof = cProfile.Profile(time.process_time)
    try:
        prof.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    finally:
        prof.dump_stats(out)


if __name__ == "__main__":
    main(sys.argv[1:])

"""``python -m bench [--only NAME] [--customers N] [--quick]``: run the benchmarks and update
BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from . import BENCHMARKS, BENCHMARKS_MD

DEFAULT_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 100_000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
                    help=f"run only this benchmark (repeatable); one of: {', '.join(sorted(BENCHMARKS))}")
    ap.add_argument("--customers", type=int, default=None,
                    help=f"number of simulated customers (default {DEFAULT_CUSTOMERS:,})")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run: {QUICK_CUSTOMERS:,} customers unless --customers is given")
    args = ap.parse_args(argv)
    customers = args.customers or (QUICK_CUSTOMERS if args.quick else DEFAULT_CUSTOMERS)
    if customers < 1000:
        ap.error("--customers must be at least 1000")

    t0 = time.perf_counter()
    for name in args.only or list(BENCHMARKS):
        mod = importlib.import_module(BENCHMARKS[name])
        print(f"== bench:{name} — {mod.DESCRIPTION} ({customers:,} customers)", flush=True)
        t = time.perf_counter()
        mod.run(customers=customers, quick=args.quick)
        print(f"== bench:{name} done in {time.perf_counter() - t:.1f} s", flush=True)
    print(f"all benchmarks done in {time.perf_counter() - t0:.1f} s; results in {BENCHMARKS_MD}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs the benchmarks (all, or those named) and writes bench/results/<name>.json, then the report.

python bench/run.py                 # everything, then docs/benchmarks.md
python bench/run.py --quick serving # CI: proves the serving benchmark still works, publishes nothing
"""

import argparse
import importlib
import time

import common
import report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs, results to a scratch directory")
    parser.add_argument("names", nargs="*", default=[], metavar="NAME", help=f"any of: {', '.join(report.ORDER)}")
    args = parser.parse_args()
    names = args.names or report.ORDER
    unknown = sorted(set(names) - set(report.ORDER))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(report.ORDER)}")
    common.log(f"{common.machine()['cores']} cores; running {', '.join(names)}{' (quick)' if args.quick else ''}")
    started = time.monotonic()
    for name in names:
        began = time.monotonic()
        module = importlib.import_module(name)
        result = module.run(args.quick)
        result["duration_s"] = round(time.monotonic() - began, 1)
        common.write_result(name, result, args.quick)
        common.log(f"{name}: done in {result['duration_s']:.0f} s")
    if not args.quick:
        report.write()
    common.log(f"all done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()

"""What every benchmark shares: the machine's description, medians, running commands, and the result
files in bench/results/ (or a scratch directory in quick mode, so CI never overwrites the published ones).

A benchmark is a module bench/<name>.py with:
  run(quick: bool) -> dict     measures, prints its raw numbers and medians, returns a JSON-able result;
  section(result, figures: pathlib.Path) -> str
                               the markdown for docs/benchmarks.md: a table (with ratios), PNG plots
                               saved under `figures`, and one paragraph per figure.
bench/run.py runs them in order and writes each result; bench/report.py turns results into the page.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOCS = ROOT / "docs"
FIGURES = DOCS / "benchmarks"


def results_dir(quick):
    """Quick runs (CI) write to a scratch directory: the published results stay as measured."""
    if quick:
        path = Path(os.environ.get("BENCH_QUICK_RESULTS", Path(tempfile.gettempdir()) / "dockerable-bench-quick"))
    else:
        path = RESULTS
    path.mkdir(parents=True, exist_ok=True)
    return path


def machine():
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def median(values):
    values = list(values)
    return statistics.median(values) if values else None


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def sh(*argv, check=True, timeout=1800, env=None, capture=True):
    """Runs a command; returns the CompletedProcess. Fails with both streams shown."""
    result = subprocess.run(
        [str(a) for a in argv],
        capture_output=capture,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def docker(*argv, **kwargs):
    return sh("docker", *argv, **kwargs)


def write_result(name, data, quick):
    path = results_dir(quick) / f"{name}.json"
    payload = {"benchmark": name, "quick": quick, "machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    log(f"{name}: wrote {path}")
    return path


def read_result(name, directory=RESULTS):
    path = Path(directory) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None

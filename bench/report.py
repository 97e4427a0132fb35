"""Writes docs/benchmarks.md from bench/results/*.json: an introduction, then each benchmark's section
(its table with ratios, its plots, one paragraph per plot)."""

import importlib

import common

ORDER = ["serving", "image", "startup", "deploy", "downtime"]

INTRO = """# Benchmarks

What the image and the role cost and save, measured by `make bench` on one machine (about 35 minutes;
`python bench/run.py serving startup` runs some of them). The raw runs, medians, ratios and the machine
are in `bench/results/*.json`, the plots in `docs/benchmarks/`, and `bench/report.py` writes this page
from them: its paragraphs are generated from the numbers, so they stay true when the benchmarks are run
again. The machine is shared and noisy, so every comparison is a ratio of figures measured in the same
run, and each figure is the median of several runs (or says that it ran once). Absolute numbers say
little about your hosts; the ratios do. `make bench-quick`, part of `make test`, runs a short serving
benchmark only to prove that it still works; its results go to a scratch directory, never to this page.
"""


def write():
    import matplotlib

    matplotlib.use("Agg")
    common.FIGURES.mkdir(parents=True, exist_ok=True)
    parts = [INTRO]
    machines = set()
    measured = []
    for name in ORDER:
        result = common.read_result(name)
        if result is None:
            parts.append(f"## {name}\n\nNot measured yet: run `make bench`.\n")
            continue
        machines.add(f"{result['machine']['cores']} cores, {result['machine']['platform']}")
        took = f"{result['duration_s'] / 60:.1f} min" if "duration_s" in result else "?"
        measured.append(f"| {name} | {result['machine']['date']} | {took} |")
        module = importlib.import_module(name)
        parts.append(module.section(result, common.FIGURES).rstrip() + "\n")
    if machines:
        summary = ["Machine: " + "; ".join(sorted(machines)) + ".", "", "| Benchmark | Measured (UTC) | Took |"]
        parts.insert(1, "\n".join([*summary, "|---|---|---:|", *measured]) + "\n")
    page = common.DOCS / "benchmarks.md"
    page.write_text("\n".join(parts))
    common.log(f"wrote {page}")


if __name__ == "__main__":
    write()

"""Writes docs/benchmarks.md from bench/results/*.json: an introduction, then each benchmark's section
(its table with ratios, its plots, one paragraph per plot)."""

import importlib

import common

ORDER = ["serving", "image", "startup", "deploy", "downtime"]

INTRO = """# Benchmarks

Measured by `make bench` on one machine (results in `bench/results/*.json`, plots in `docs/benchmarks/`).
This machine is shared and noisy, so every comparison is a ratio of figures measured in the same run,
and each figure is the median of several runs. Absolute numbers say little about your hosts; ratios do.
"""


def write():
    import matplotlib

    matplotlib.use("Agg")
    common.FIGURES.mkdir(parents=True, exist_ok=True)
    parts = [INTRO]
    machines = set()
    for name in ORDER:
        result = common.read_result(name)
        if result is None:
            parts.append(f"## {name}\n\nNot measured yet: run `make bench`.\n")
            continue
        machines.add(f"{result['machine']['cores']} cores, {result['machine']['platform']}")
        module = importlib.import_module(name)
        parts.append(module.section(result, common.FIGURES).rstrip() + "\n")
    if machines:
        parts.insert(1, "Machine: " + "; ".join(sorted(machines)) + ".\n")
    page = common.DOCS / "benchmarks.md"
    page.write_text("\n".join(parts))
    common.log(f"wrote {page}")


if __name__ == "__main__":
    write()

"""Deploy cost: wall time and bytes shipped per host, in ship mode `archive` and `registry`, for a first deploy,
a re-deploy with nothing changed, and a re-deploy after a code-only change. Two hosts with their own Docker
engines (Molecule's `bench` scenario), deployed with playbooks/deploy.yml.

Both modes get the same start: the hosts are emptied (containers, images, environment directory, database)
before each mode's first deploy, and the release of that first deploy is built on the controller beforehand,
so neither pays for a build the other does not. Each code-only change is a new one-line change of the
stylesheet, built during the deploy (from the layer cache), as a developer's next release would be.

Bytes shipped per host: `archive`, the size of the archive copied to the host (0 when it was skipped: the host
had the image); `registry`, the sum of the blob responses the registry's access log records for the host's
address. A deploy takes about a minute here, so each kind is run once per mode (not a median).
"""

import common
import world

KINDS = ["first", "unchanged", "code"]
KIND_TITLES = {
    "first": "first deploy",
    "unchanged": "re-deploy, nothing changed",
    "code": "re-deploy, code-only change",
}
MODES = ["archive", "registry"]
MB = 1e6


def _measure(mode, kind, base, change=None):
    copy, release = world.source(change)
    meter = world.RegistryMeter().start() if mode == "registry" else None
    outcome = world.deploy(f"{mode}-{kind}", mode, project=copy)
    if meter is not None:
        registry = meter.stop()
        outcome["bytes_per_host"] = registry["served_bytes"]
        outcome["blobs_per_host"] = registry["blobs"]
        outcome["pushed_bytes"] = registry["pushed_bytes"]
    else:
        outcome["bytes_per_host"] = outcome["archive_bytes"]
    outcome["kind"] = kind
    outcome["release"] = release
    world.check_release(outcome["release"])
    if change is not None:
        outcome["new_layers"] = world.new_layers(base, release)
    common.log(
        f"deploy {mode} {kind}: {outcome['wall_s']:.1f} s, bytes per host {outcome['bytes_per_host']}"
        + (f", pushed {outcome['pushed_bytes']}" if meter is not None else "")
        + (f", new layers {outcome['new_layers']}" if change is not None else "")
    )
    return outcome


def run(quick):
    modes = ["registry"] if quick else MODES
    runs = []
    try:
        base = world.base_release()
        create_s = world.acquire()
        for mode in modes:
            world.reset_hosts()
            runs.append(_measure(mode, "first", base))
            runs.append(_measure(mode, "unchanged", base))
            runs.append(_measure(mode, "code", base, change=f"deploy-{mode}"))
    except BaseException:
        world.release(keep=False)
        raise
    # bench/downtime.py may reuse the world in this process; it is destroyed at exit otherwise.
    world.release(keep=True)
    summary = {
        kind: {
            r["mode"]: {
                "wall_s": r["wall_s"],
                "bytes_per_host": common.median(r["bytes_per_host"].values()),
                "ship_s": r["phases_s"]["ship"],
            }
            for r in runs
            if r["kind"] == kind
        }
        for kind in KINDS
    }
    for kind, modes_ in summary.items():
        for mode, figures in modes_.items():
            common.log(
                f"deploy {KIND_TITLES[kind]}, {mode}: {figures['wall_s']:.1f} s,"
                f" {figures['bytes_per_host'] / MB:.1f} MB per host"
            )
    return {
        "hosts": world.HOSTS,
        "runs_per_kind": 1,
        "create_s": round(create_s, 1),
        "runs": runs,
        "summary": summary,
    }


def _ratio(numerator, denominator, digits=2):
    if numerator is None or not denominator:
        return "-"
    return f"{numerator / denominator:.{digits}f}"


def _seconds(value):
    return "-" if value is None else f"{value:.1f}"


def _mb(value):
    return "-" if value is None else f"{value / MB:.1f}"


def _plot_times(result, path):
    import matplotlib.pyplot as plt

    runs = {(r["mode"], r["kind"]): r for r in result["runs"]}
    modes = [m for m in MODES if any(k[0] == m for k in runs)]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / len(modes)
    colors = dict(
        zip(world.PHASE_ORDER, ["#4c72b0", "#dd8452", "#55a868", "#8172b3", "#c44e52", "#bbbbbb"], strict=True)
    )
    for m, mode in enumerate(modes):
        for k, kind in enumerate(KINDS):
            run = runs.get((mode, kind))
            if run is None:
                continue
            x = k + (m - (len(modes) - 1) / 2) * width
            bottom = 0.0
            for phase in world.PHASE_ORDER:
                seconds = run["phases_s"].get(phase, 0.0)
                ax.bar(
                    x,
                    seconds,
                    width * 0.92,
                    bottom=bottom,
                    color=colors[phase],
                    label=phase if (m, k) == (0, 0) else None,
                )
                bottom += seconds
            ax.text(x, bottom + 1, f"{mode}\n{run['wall_s']:.0f} s", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(KINDS)), [KIND_TITLES[k] for k in KINDS])
    ax.set_ylabel("wall time, two hosts (s)")
    ax.set_ylim(0, max(r["wall_s"] for r in result["runs"]) * 1.25)
    ax.set_title("Deploy time by phase, archive vs registry")
    ax.legend(ncols=3, fontsize=8, loc="upper right")
    common.save_figure(fig, path, dpi=110)


def _plot_bytes(result, path):
    import matplotlib.pyplot as plt

    summary = result["summary"]
    modes = [m for m in MODES if any(m in summary[k] for k in KINDS)]
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / len(modes)
    colors = {"archive": "#dd8452", "registry": "#4c72b0"}
    for m, mode in enumerate(modes):
        for k, kind in enumerate(KINDS):
            figures = summary[kind].get(mode)
            if figures is None:
                continue
            x = k + (m - (len(modes) - 1) / 2) * width
            value = figures["bytes_per_host"] / MB
            ax.bar(x, value, width * 0.92, color=colors[mode], label=mode if k == 0 else None)
            label = f"{value:.1f} MB" if value >= 0.1 else (f"{value * 1000:.0f} kB" if value else "0")
            ax.text(x, value, label, ha="center", va="bottom")
    ax.set_xticks(range(len(KINDS)), [KIND_TITLES[k] for k in KINDS])
    ax.set_ylabel("MB received per host")
    ax.set_title("Bytes shipped to each host")
    ax.legend()
    common.save_figure(fig, path, dpi=110)


def _layers(run):
    """', the N layers (X MB uncompressed) the change added' when the run recorded them."""
    layers = run.get("new_layers")
    if not layers:
        return ""
    return f"; the change added {layers['count']} layers, {_mb(layers['bytes'])} MB uncompressed"


def _compared(registry, archive):
    """How registry mode's time compares with archive mode's, with the table's ratio (registry / archive)."""
    ratio = registry / archive
    verdict = "about as fast" if 0.9 <= ratio <= 1.1 else ("faster" if ratio < 1 else "slower")
    return f"{verdict} (registry / archive: {ratio:.2f})"


def section(result, figures):
    summary = result["summary"]
    has_both = all(mode in summary["first"] for mode in MODES)
    repeated = result["runs_per_kind"]
    times = "once" if repeated == 1 else f"{repeated} times"
    lines = [
        "## Deploy",
        "",
        "Two hosts with their own Docker engines (Molecule's `bench` scenario), `playbooks/deploy.yml` with serial 1."
        f" Each kind of deploy was run {times}"
        " per mode (a deploy takes about a minute here), so the times carry this machine's noise; the bytes do not."
        " Both modes start from empty hosts and from a release already built on the controller; each code-only"
        " change is a new one-line change of the stylesheet, built during the deploy. Bytes per host: `archive`,"
        " the archive copied to the host (0 when the host had the image); `registry`, the blob bytes the registry"
        " served to the host's address.",
        "",
        "| Deploy | archive (s) | registry (s) | registry / archive | archive (MB per host) | registry (MB per host)"
        " | registry / archive |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in KINDS:
        archive = summary[kind].get("archive", {})
        registry = summary[kind].get("registry", {})
        lines.append(
            f"| {KIND_TITLES[kind]} | {_seconds(archive.get('wall_s'))} | {_seconds(registry.get('wall_s'))}"
            f" | {_ratio(registry.get('wall_s'), archive.get('wall_s'))}"
            f" | {_mb(archive.get('bytes_per_host'))} | {_mb(registry.get('bytes_per_host'))}"
            f" | {_ratio(registry.get('bytes_per_host'), archive.get('bytes_per_host'), 3)} |"
        )
    pushed = {r["kind"]: r.get("pushed_bytes") for r in result["runs"] if r["mode"] == "registry"}
    if pushed:
        lines += [
            "",
            "In registry mode the controller also pushes, once for all hosts (the growth of the registry's"
            " storage): " + "; ".join(f"{KIND_TITLES[k]}, {_mb(pushed.get(k))} MB" for k in KINDS if k in pushed) + ".",
        ]
    loads = [r["load_average"] for r in result["runs"] if "load_average" in r]
    if loads:
        lines += [
            "",
            f"This machine's 1-minute load average at the end of each deploy: {min(loads):.1f} to {max(loads):.1f}"
            f" on {result['machine']['cores']} cores; the times of single runs move with it, the bytes do not.",
        ]
    figures.mkdir(parents=True, exist_ok=True)
    _plot_times(result, figures / "deploy-time.png")
    _plot_bytes(result, figures / "deploy-bytes.png")
    lines += ["", "![Deploy time by phase](benchmarks/deploy-time.png)", ""]
    runs = {(r["mode"], r["kind"]): r for r in result["runs"]}
    if has_both:
        first_a, first_r = runs["archive", "first"], runs["registry", "first"]
        code_a, code_r = runs["archive", "code"], runs["registry", "code"]
        same_a, same_r = runs["archive", "unchanged"], runs["registry", "unchanged"]
        lines.append(
            f"Where a deploy's time goes. A first deploy to two hosts took {first_a['wall_s']:.0f} s in archive"
            f" mode and {first_r['wall_s']:.0f} s in registry mode: registry mode was"
            f" {_compared(first_r['wall_s'], first_a['wall_s'])}, shipping taking"
            f" {first_a['phases_s']['ship']:.0f} s (archive) and {first_r['phases_s']['ship']:.0f} s (registry)."
            f" After a code-only change registry mode was {_compared(code_r['wall_s'], code_a['wall_s'])}:"
            f" {code_r['wall_s']:.0f} s against {code_a['wall_s']:.0f} s, shipping"
            f" {code_r['phases_s']['ship']:.0f} s against {code_a['phases_s']['ship']:.0f} s (building took"
            f" {code_r['phases_s']['build']:.0f} s against {code_a['phases_s']['build']:.0f} s{_layers(code_r)})."
            f" A re-deploy with nothing changed took {same_a['wall_s']:.0f} s (archive) and"
            f" {same_r['wall_s']:.0f} s (registry), {_ratio(same_a['wall_s'], first_a['wall_s'])} and"
            f" {_ratio(same_r['wall_s'], first_r['wall_s'])} of a first deploy in the same mode: that is the"
            " fixed cost of a deploy (the checks, the lock, the environment's own files, and each host's check"
            " through its ports, all hosts at once since none switches), paid whatever changed; the release's"
            " image, files and migrations are not touched again on hosts that serve it. For a user: the time a"
            " release takes beyond that fixed cost is shipping, and shipping grows with the number of hosts"
            " in archive mode (each host receives the whole archive from the controller), while in registry"
            " mode each host fetches only what it lacks."
        )
    lines += ["", "![Bytes shipped to each host](benchmarks/deploy-bytes.png)", ""]
    if has_both:
        archive_code = summary["code"]["archive"]["bytes_per_host"]
        registry_code = summary["code"]["registry"]["bytes_per_host"]
        registry_first = summary["first"]["registry"]["bytes_per_host"]
        archive_first = summary["first"]["archive"]["bytes_per_host"]
        unchanged = [summary["unchanged"][m]["bytes_per_host"] for m in MODES]
        nothing = (
            "A re-deploy with nothing changed shipped nothing in either mode."
            if not any(unchanged)
            else f"A re-deploy with nothing changed shipped {_mb(unchanged[0])} MB (archive) and"
            f" {_mb(unchanged[1])} MB (registry) per host."
        )
        if registry_code <= 0.1 * archive_code:
            verdict = "with a registry, releases that change only code are cheap to ship."
        else:
            verdict = (
                f"here a code-only change still sent {_ratio(registry_code, archive_code)} of the archive through"
                " the registry: more than the code's layers changed, which happens when the controller's build"
                " cache no longer holds the layers below the project's code (a pruned cache); keep the cache"
                " between releases."
            )
        lines.append(
            f"What crosses the network. Archive mode sends each host that lacks the release the whole image,"
            f" uncompressed: {_mb(archive_first)} MB for the first deploy and {_mb(archive_code)} MB again after"
            f" a one-line change. Registry mode sends compressed layers, and only those a host lacks:"
            f" {_mb(registry_first)} MB for the first deploy ({_ratio(registry_first, archive_first)} of the"
            f" archive) and {_mb(registry_code)} MB after the code-only change"
            f" ({_ratio(registry_code, archive_code, 4)} of the archive{_layers(runs['registry', 'code'])})."
            f" {nothing} For a user: without a registry every release costs the full image per host, which"
            f" matters on slow or metered links and with many hosts; {verdict}"
        )
    return "\n".join(lines) + "\n"

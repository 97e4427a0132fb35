"""Downtime during a deploy: under a constant load, the requests that fail and the longest time without a
successful answer, while playbooks/deploy.yml releases a code-only change
  1. to one host, the load sent straight to it (through the host's edge);
  2. to two hosts behind a load balancer (nginx, retrying a request on the other host when one refuses or
     answers 502/503/504), rolled out one host at a time (serial 1), the load sent to the balancer;
and, on one host: a release that fails its health check (which requests fail, which the failing release
answers), playbooks/rollback.yml back to the previous release, and a change of the edge's own configuration
(the edge is recreated: what that costs).

The load generator runs on this machine: WORKERS threads that together start RATE requests per second for
/healthz (a new connection each, as independent clients do), each recorded with its start, end, outcome and
the release that answered. Every deploy releases a new code-only change (a copy of the repository with one
line of the stylesheet changed), shipped through the scenario's registry. The world is Molecule's `bench`
scenario, shared with bench/deploy.py when both run in one process.
"""

import http.client
import itertools
import json
import statistics
import threading
import time
from collections import Counter

import common
import world

MODE = "registry"
RATE = 50  # requests started per second, all workers together
WORKERS = 8
TIMEOUT = 5.0  # seconds before a request counts as failed (timeout)
LEAD = 3.0  # seconds of load before the deploy starts, and after it ends
EDGE_GRACE = 46  # the edge run's django_dockerable_stop_grace_period (the default is 45)
BALANCER_CONFIG = """\
# The benchmarks' load balancer: both hosts, a request that fails on one is retried on the other.
worker_processes 1;
pid /tmp/balancer.pid;
error_log /dev/stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    upstream hosts {{
{servers}
    }}
    server {{
        listen 80;
        location / {{
            proxy_pass http://hosts;
            proxy_set_header Host {site};
            proxy_connect_timeout 2s;
            proxy_read_timeout 10s;
            proxy_next_upstream error timeout http_502 http_503 http_504;
        }}
    }}
}}
"""
# Runs on one host besides the re-deploys: what else switches releases, or recreates the edge.
OTHERS = {
    "failing": "a release that fails its health check",
    "rollback": "playbooks/rollback.yml to the previous release",
    "edge": "a change of the edge's own configuration (edge recreated)",
}
SETUPS = {
    "single": "one host, re-deploy",
    "balanced": "two hosts behind nginx, rolling deploy (serial 1)",
}


class Load:
    """Starts RATE requests per second on WORKERS threads until stopped; keeps (start, end, outcome, release)."""

    def __init__(self, address, host_header, port=80):
        self.address, self.host_header, self.port = address, host_header, port
        self.samples = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(WORKERS)]

    def start(self):
        self.began = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.stopping.set()
        for thread in self.threads:
            thread.join(TIMEOUT + 5)
        self.ended = time.monotonic()
        return self

    def _worker(self, index):
        period = WORKERS / RATE
        slot = self.began + index / RATE
        while not self.stopping.is_set():
            now = time.monotonic()
            if slot > now:
                self.stopping.wait(slot - now)
                continue
            if now - slot > period:  # a slow request: skip the missed slots rather than send a burst
                slot += period * int((now - slot) / period)
            began = time.monotonic()
            outcome, release = self.request()
            self.samples.append((began, time.monotonic(), outcome, release))
            slot += period

    def request(self):
        connection = http.client.HTTPConnection(self.address, self.port, timeout=TIMEOUT)
        try:
            connection.request("GET", "/healthz", headers={"Host": self.host_header, "Connection": "close"})
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                return f"HTTP {response.status}", None
            return "ok", json.loads(body).get("release")
        except TimeoutError:
            return "timeout", None
        except (OSError, http.client.HTTPException, ValueError) as error:
            return type(error).__name__, None
        finally:
            connection.close()


def _is_new(release, new):
    """Whether an answer's release (<image tag>-<configuration digest>) is the image `new` (a tag), or `new`."""
    return bool(release) and (release == new or release.rsplit("-", 1)[0] == new)


def _analyse(load, deploy_began, deploy_ended, old, new):
    """The figures of one run; times are seconds since the deploy started. Answers from any release but the new
    one count as the old release (behind the balancer, the hosts may start from different releases)."""
    samples = sorted(load.samples)
    ok_ends = sorted(end for _, end, outcome, _ in samples if outcome == "ok")
    gaps = [(b - a, a) for a, b in itertools.pairwise(ok_ends)]
    during = [(gap, at) for gap, at in gaps if at + gap >= deploy_began and at <= deploy_ended]
    before = [gap for gap, at in gaps if at + gap < deploy_began]
    longest, longest_at = max(during, default=(0.0, deploy_began))
    failed = [(start, outcome) for start, _, outcome, _ in samples if outcome != "ok"]
    return {
        "old_release": old,
        "new_release": new,
        "deploy_s": round(deploy_ended - deploy_began, 2),
        "requests": len(samples),
        "failed": len(failed),
        "failed_share": round(len(failed) / len(samples), 4) if samples else None,
        "failures": dict(Counter(outcome for _, outcome in failed)),
        "new_answers": sum(1 for *_, outcome, release in samples if outcome == "ok" and _is_new(release, new)),
        "first_failure_s": round(failed[0][0] - deploy_began, 2) if failed else None,
        "last_failure_s": round(failed[-1][0] - deploy_began, 2) if failed else None,
        "longest_gap_s": round(longest, 3),
        "longest_gap_from_s": round(longest_at - deploy_began, 2),
        "gap_before_deploy_s": round(max(before, default=0.0), 3),
        "median_latency_ms": round(statistics.median((e - s) * 1000 for s, e, o, _ in samples if o == "ok"), 1)
        if ok_ends
        else None,
        # One line per request: start (s since the deploy started), latency (ms), outcome, release answering.
        "timeline": [
            f"{start - deploy_began:.2f} {(end - start) * 1000:.1f} {outcome.replace(' ', '_')}"
            f" {'new' if _is_new(release, new) else ('old' if release else '-')}"
            for start, end, outcome, release in samples
        ],
    }


def _current_release(host):
    out = common.docker("exec", host, "curl", "-s", "-H", f"Host: {host}", "http://127.0.0.1/healthz")
    return json.loads(out.stdout).get("release")


def _measured_deploy(label, target, host_header, limit, kind="deploy"):
    """One run under load. kind: deploy (a code-only change), failing (a release that never becomes healthy),
    rollback (playbooks/rollback.yml), edge (the same image with a change of the edge's own configuration,
    which recreates the edge: a new release too, since the release's stop time is part of it)."""
    old = _current_release(world.HOSTS[0])
    old_image = old.rsplit("-", 1)[0]
    copy, extra = None, []
    if kind == "rollback":
        new = world.host_file(world.HOSTS[0], "previous-release")
    elif kind == "edge":
        new = old_image
        extra = [f"django_dockerable_release={old_image}", f"django_dockerable_stop_grace_period={EDGE_GRACE}"]
    else:
        copy, new = world.source(label, broken=kind == "failing")
    hosts = [world.HOSTS[0]] if limit != world.ENVIRONMENT else world.HOSTS
    load = Load(world.address(target), host_header).start()
    try:
        time.sleep(LEAD)
        began = time.monotonic()
        deployed = world.deploy(
            label,
            MODE,
            project=copy,
            limit=limit,
            playbook="rollback.yml" if kind == "rollback" else "deploy.yml",
            extra=extra,
            expect_failure=kind == "failing",
        )
        ended = time.monotonic()
        time.sleep(LEAD)
    finally:
        load.stop()
    world.check_release(old_image if kind == "failing" else new.rsplit("-", 1)[0] if kind == "rollback" else new, hosts)
    figures = _analyse(load, began, ended, old, new)
    figures["deploy_phases_s"] = deployed["phases_s"]
    figures["load_average"] = deployed["load_average"]
    common.log(
        f"downtime {label}: {figures['requests']} requests, {figures['failed']} failed {figures['failures']},"
        f" longest gap {figures['longest_gap_s']:.2f} s (before the deploy {figures['gap_before_deploy_s']:.2f} s),"
        f" deploy {figures['deploy_s']:.1f} s"
    )
    return figures


def _start_balancer(release):
    config = world.work_dir() / "balancer.conf"
    servers = "\n".join(f"        server {world.address(host)}:80 max_fails=1 fail_timeout=5s;" for host in world.HOSTS)
    config.write_text(BALANCER_CONFIG.format(servers=servers, site=world.SITE_NAME))
    # The app's image has nginx: run it with the balancer's configuration instead of the app.
    common.docker(
        "run",
        "--detach",
        "--name",
        world.BALANCER,
        "--network",
        world.NETWORK,
        "--network-alias",
        world.BALANCER,
        "--no-healthcheck",
        "--volume",
        f"{config}:/etc/balancer/nginx.conf:ro",
        "--entrypoint",
        "nginx",
        f"{world.PROJECT}:{release}",
        "-c",
        "/etc/balancer/nginx.conf",
        "-g",
        "daemon off;",
    )
    address = world.address(world.BALANCER)
    for _ in range(50):
        probe = Load(address, world.SITE_NAME)
        outcome, _ = probe.request()
        if outcome == "ok":
            return address
        time.sleep(0.2)
    logs = common.docker("logs", world.BALANCER, check=False)
    raise RuntimeError(f"the balancer does not answer /healthz:\n{logs.stdout}{logs.stderr}")


def run(quick):
    # A re-deploy of one host is short: three runs; a rollout over two takes longer: two.
    repeats = {"single": 1, "balanced": 1} if quick else {"single": 3, "balanced": 2}
    result = {"rate_per_s": RATE, "workers": WORKERS, "timeout_s": TIMEOUT, "lead_s": LEAD, "mode": MODE}
    try:
        base = world.base_release()
        result["create_s"] = round(world.acquire(), 1)
        if not world.deployed():
            copy, _ = world.source()
            world.deploy("downtime-setup", MODE, project=copy)
        single = world.HOSTS[0]
        result["single"] = [
            _measured_deploy(f"downtime-single-{i + 1}", single, single, single) for i in range(repeats["single"])
        ]
        result["failing"] = _measured_deploy("downtime-failing", single, single, single, kind="failing")
        result["rollback"] = _measured_deploy("downtime-rollback", single, single, single, kind="rollback")
        _start_balancer(base)
        result["balanced"] = [
            _measured_deploy(f"downtime-balanced-{i + 1}", world.BALANCER, world.SITE_NAME, world.ENVIRONMENT)
            for i in range(repeats["balanced"])
        ]
        # Last: the edge's configuration stays changed on the first host.
        result["edge"] = _measured_deploy("downtime-edge", single, single, single, kind="edge")
    finally:
        world.release(keep=False)
    # The plots show the first run of each setup; the other runs keep their figures only.
    for setup in SETUPS:
        for later in result[setup][1:]:
            later.pop("timeline")
    for other in OTHERS:
        result[other].pop("timeline")
    result["summary"] = {
        setup: {
            key: common.median(run[key] for run in result[setup])
            for key in ("requests", "failed", "failed_share", "longest_gap_s", "gap_before_deploy_s", "deploy_s")
        }
        for setup in SETUPS
    }
    for setup, figures in result["summary"].items():
        common.log(f"downtime {SETUPS[setup]} (median of {repeats[setup]}): {figures}")
    return result


def _parse_timeline(run):
    points = []
    for line in run["timeline"]:
        start, latency, outcome, release = line.split(" ")
        points.append((float(start), float(latency), outcome, release))
    return points


def _new_share(points, width=1.0):
    """(bin start, % of the successful answers that came from the new release) per `width` seconds."""
    bins = {}
    for start, _, outcome, release in points:
        if outcome == "ok":
            counts = bins.setdefault(int(start // width), [0, 0])
            counts[0] += release == "new"
            counts[1] += 1
    return [(index * width, 100 * new / total) for index, (new, total) in sorted(bins.items())]


def _plot_timelines(result, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharey=True)
    styles = {"old": ("#999999", "old release"), "new": ("#4c72b0", "new release")}
    for ax, setup in zip(axes, SETUPS, strict=True):
        run = result[setup][0]
        points = _parse_timeline(run)
        for tag, (color, label) in styles.items():
            chosen = [(s, lat) for s, lat, o, r in points if o == "ok" and r == tag]
            if chosen:
                ax.scatter(*zip(*chosen, strict=True), s=4, color=color, alpha=0.6, label=label, zorder=2)
        failed = [(s, max(lat, 0.5)) for s, lat, o, _ in points if o != "ok"]
        if failed:
            ax.scatter(*zip(*failed, strict=True), s=14, marker="x", color="#c44e52", label="failed", zorder=3)
        ax.axvspan(0, run["deploy_s"], color="#f2e6c9", label="deploy running", zorder=0)
        if run["longest_gap_s"] > 0:
            start = run["longest_gap_from_s"]
            ax.axvspan(start, start + run["longest_gap_s"], color="#f4c7c3", label="longest gap", zorder=1)
        ax.set_yscale("log")
        ax.set_ylabel("response time (ms)")
        ax.set_title(
            f"{SETUPS[setup]}: {run['failed']} of {run['requests']} requests failed,"
            f" longest gap {run['longest_gap_s']:.2f} s",
            fontsize=10,
        )
        handles, labels = ax.get_legend_handles_labels()
        # Where both releases answer, their dots overlap: the share of answers from the new one shows it.
        share = _new_share(points)
        if share:
            twin = ax.twinx()
            twin.step(*zip(*share, strict=True), where="post", color="#2b4a7a", linewidth=1.2)
            twin.set_ylim(0, 105)
            twin.set_ylabel("answers from the new release (%)", fontsize=8)
            handles.append(twin.lines[0])
            labels.append("new release's share (1 s bins)")
        ax.legend(handles, labels, fontsize=7, loc="upper left", ncols=3)
    axes[-1].set_xlabel("seconds since the deploy started")
    common.save_figure(fig, path, dpi=110)


def _plot_summary(result, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = ["one host", "two hosts +\nbalancer"]
    colors = ["#c44e52", "#4c72b0"]
    for ax, key, title in zip(axes, ["failed", "longest_gap_s"], ["failed requests", "longest gap (s)"], strict=True):
        for i, setup in enumerate(SETUPS):
            values = [run[key] for run in result[setup]]
            ax.bar(i, result["summary"][setup][key], 0.6, color=colors[i])
            ax.scatter([i] * len(values), values, color="black", s=12, zorder=3)
            value = result["summary"][setup][key]
            ax.text(i, value, f"{value:.2f}" if key == "longest_gap_s" else f"{value:g}", ha="center", va="bottom")
        ax.set_xticks(range(len(SETUPS)), labels)
        ax.set_title(f"{title}, median (dots: runs)", fontsize=10)
    common.save_figure(fig, path, dpi=110)


def _kinds(failures):
    names = {
        "ConnectionRefusedError": "connection refused",
        "ConnectionResetError": "connection reset",
        "RemoteDisconnected": "closed without an answer",
        "timeout": f"no answer within {TIMEOUT:g} s",
    }
    return ", ".join(f"{count} {names.get(kind, kind)}" for kind, count in Counter(failures).most_common())


def _advice(single, balanced):
    if single["failed"] and not balanced["failed"]:
        return (
            "For a user: with one host, every deploy is a short outage, so deploy when traffic is low; for deploys"
            " nobody notices, run two hosts or more behind a balancer that retries on another host, and keep"
            " `django_dockerable_serial` below the number of hosts."
        )
    if single["failed"]:
        return (
            "For a user: every deploy costs some failed requests even behind a balancer; deploy when traffic is low,"
            " and check the balancer retries on another host."
        )
    return "For a user: deploys do not interrupt the site, on one host or behind a balancer."


def section(result, figures):
    summary = result["summary"]
    repeats = {setup: len(result[setup]) for setup in SETUPS}
    lines = [
        "## Downtime",
        "",
        f"A constant load of {result['rate_per_s']} requests per second for `/healthz` (a new connection each,"
        f" {result['workers']} threads on this machine, {result['timeout_s']:g} s timeout) from {result['lead_s']:g} s"
        f" before a deploy of a code-only change until {result['lead_s']:g} s after it; {repeats['single']} runs on"
        f" one host and {repeats['balanced']} behind the balancer (medians). Ship mode {result['mode']}. The"
        " balancer is nginx with both hosts as upstreams, retrying a"
        " request on the other host on a refused connection, a timeout or a 502/503/504.",
        "",
        "| Setup | requests | failed | failed share | longest gap (s) | longest gap before the deploy (s)"
        " | deploy (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for setup, title in SETUPS.items():
        f = summary[setup]
        lines.append(
            f"| {title} | {f['requests']:.0f} | {f['failed']:g} | {f['failed_share']:.2%} | {f['longest_gap_s']:.2f}"
            f" | {f['gap_before_deploy_s']:.2f} | {f['deploy_s']:.1f} |"
        )
    single, balanced = summary["single"], summary["balanced"]
    failed_ratio = f"{balanced['failed'] / single['failed']:.2f}" if single["failed"] else "-"
    gap_ratio = f"{balanced['longest_gap_s'] / single['longest_gap_s']:.2f}" if single["longest_gap_s"] else "-"
    lines += [
        f"| balancer / one host | | {failed_ratio} | | {gap_ratio} | | |",
        "",
    ]
    loads = [run["load_average"] for setup in SETUPS for run in result[setup] if "load_average" in run]
    if loads:
        lines += [
            f"This machine's 1-minute load average at the end of each deploy: {min(loads):.1f} to {max(loads):.1f}"
            f" on {result['machine']['cores']} cores.",
            "",
        ]
    figures.mkdir(parents=True, exist_ok=True)
    _plot_timelines(result, figures / "downtime-timeline.png")
    _plot_summary(result, figures / "downtime-summary.png")
    first_single, first_balanced = result["single"][0], result["balanced"][0]
    single_kinds = Counter()
    for run in result["single"]:
        single_kinds.update(run["failures"])
    gap_share = single["longest_gap_s"] / single["deploy_s"] if single["deploy_s"] else 0
    if single["failed"]:
        single_text = (
            f"On one host, the site stopped answering for {single['longest_gap_s']:.1f} s (median longest gap,"
            f" against {single['gap_before_deploy_s']:.2f} s between answers before the deploy), and"
            f" {single['failed']:g} requests failed ({single['failed_share']:.1%} of all sent; over all runs:"
            f" {_kinds(single_kinds.elements())}). The outage is {gap_share:.0%} of the deploy's"
            f" {single['deploy_s']:.0f} s."
        )
    else:
        single_text = (
            f"On one host no request failed; the longest gap between answers was {single['longest_gap_s']:.2f} s"
            f" (against {single['gap_before_deploy_s']:.2f} s before the deploy): the new release starts next to"
            " the serving one, answers its health check through its own nginx, and only then does the host's edge"
            " send it new connections, while the old one finishes its requests."
        )
    share = _new_share(_parse_timeline(first_balanced))
    mixed = (
        " (the timeline shows both releases answering between the two hosts' switches)"
        if any(0 < percent < 100 for _, percent in share)
        else ""
    )
    if balanced["failed"] == 0:
        balanced_text = (
            f"Behind the balancer, the rolling deploy failed no request, and the longest gap between answers was"
            f" {balanced['longest_gap_s']:.2f} s: while one host switched, the balancer sent its requests to the"
            f" other{mixed}."
        )
    else:
        balanced_kinds = Counter()
        for run in result["balanced"]:
            balanced_kinds.update(run["failures"])
        balanced_text = (
            f"Behind the balancer, the rolling deploy still failed {balanced['failed']:g} requests (median; over"
            f" all runs: {_kinds(balanced_kinds.elements())}), {failed_ratio} times as many as on one host, and the"
            f" longest gap was {balanced['longest_gap_s']:.2f} s."
        )
    lines += [
        "Other switches on one host, under the same load (one run each):",
        "",
        "| On one host | requests | failed | answered by the new release | longest gap (s) | run (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for other, title in OTHERS.items():
        f = result[other]
        lines.append(
            f"| {title} | {f['requests']} | {f['failed']} | {f['new_answers']} | {f['longest_gap_s']:.2f}"
            f" | {f['deploy_s']:.1f} |"
        )
    failing, rollback, edge = (result[other] for other in OTHERS)
    lines += [
        "",
        f"The release that failed its health check answered {failing['new_answers']} requests and"
        f" {failing['failed']} failed: it never got a connection, the serving release kept them all. The"
        f" rollback, a switch to the stopped previous release (nothing built or shipped), took"
        f" {rollback['deploy_s']:.0f} s and failed {rollback['failed']} requests. Recreating the edge (rare: only"
        f" when its ports, bind address, TLS mode or stop time change) closes the ports for a moment:"
        f" {edge['failed']} requests failed, with a longest gap of {edge['longest_gap_s']:.2f} s.",
        "",
        "![Requests during a deploy](benchmarks/downtime-timeline.png)",
        "",
        f"What a visitor sees during a deploy (first run of each setup; each dot a request, red crosses failed"
        f" ones). {single_text} {balanced_text} {_advice(single, balanced)}",
        "",
        "![Failed requests and longest gap](benchmarks/downtime-summary.png)",
        "",
        f"The same figures side by side, medians with each run as a dot: {single['failed']:g} failed requests and a"
        f" {single['longest_gap_s']:.2f} s longest gap on one host, {balanced['failed']:g} and"
        f" {balanced['longest_gap_s']:.2f} s behind the balancer (first runs: {first_single['failed']} and"
        f" {first_balanced['failed']} failed). The deploy itself took"
        f" {single['deploy_s']:.0f} s for one host and {balanced['deploy_s']:.0f} s for the rollout over two"
        f" ({balanced['deploy_s'] / single['deploy_s']:.1f}x): the hosts switch one after the other, so a rolling"
        " deploy takes longer as hosts are added, while the site keeps answering.",
    ]
    return "\n".join(lines) + "\n"

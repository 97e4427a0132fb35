"""Start-up: from `docker run` (and from `docker start` of a stopped container) to the first healthy
answer through nginx, polled every 20 ms on a port published on 127.0.0.1, and when Docker's own
health status turns healthy.

Phases come from Docker's timestamps of log lines that reach it at once (cmd.sh's own, and
supervisord's through cmd.sh's pipe; uWSGI's wait for supervisord's event listener, so they are not
used): the container's start; cmd.sh's line once it has checked every variable, loaded the settings
as the app's user and tested nginx's configuration; supervisord started; supervisord spawning uWSGI;
then the first 200 from /healthz. Each container is stopped gracefully (timed too), started again,
and removed.
"""

import datetime
import shutil
import tempfile
import time
from pathlib import Path

import common

FULL = {"runs": 5}
QUICK = {"runs": 1}
# The first log line that starts with the prefix and contains the text marks each moment.
MARKERS = {
    "checked": ("[cmd.sh] release ", ""),
    "supervisord_up": ("[supervisord] ", "supervisord started with pid"),
    "spawned": ("[supervisord] ", "spawned: 'uwsgi'"),
}
PHASES = {
    "docker_run": "Docker: container created and started",
    "checks": "cmd.sh: variables, settings loaded as the app's user, nginx -t",
    "supervisord_start": "supervisord: starting",
    "supervisord_wait": "supervisord: started, until it spawns uWSGI and nginx",
    "app": "uWSGI loads Django; first request through nginx",
}
STOP_TIMEOUT = 45  # the stop grace period the README asks for


def timestamp(text):
    """Docker's RFC 3339 time with nanoseconds -> seconds since the epoch."""
    text = text.strip().replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    return datetime.datetime.fromisoformat(text).timestamp()


def marker_times(name):
    """time.time() of the first log line carrying each marker."""
    found = {}
    for line in common.container_logs(name, timestamps=True).splitlines():
        stamp, _, message = line.partition(" ")
        for key, (prefix, text) in MARKERS.items():
            if key not in found and message.startswith(prefix) and text in message:
                found[key] = timestamp(stamp)
    return found


def wait_healthy(name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = common.docker("inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip()
        if status == "healthy":
            return time.time()
        if status == "unhealthy":
            raise RuntimeError(f"{name} became unhealthy:\n{common.container_logs(name)}")
        time.sleep(0.1)
    raise RuntimeError(f"{name} was not healthy within {timeout} s")


def one_run(index, image, options, variables):
    name = f"{common.PREFIX}startup-{index}"
    port = common.free_port()
    try:
        began = time.time()
        common.run_container(name, image, *options, "--publish", f"127.0.0.1:{port}:80", env=variables)
        answered = common.wait_for_answer(port, container=name)
        healthy = wait_healthy(name)
        started = timestamp(common.docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout)
        marks = marker_times(name)
        missing = set(MARKERS) - set(marks)
        if missing:
            raise RuntimeError(f"{name}: no log line for {', '.join(sorted(missing))}:\n{common.container_logs(name)}")
        result = {
            "first_answer_s": answered - began,
            "healthy_s": healthy - began,
            "phases_s": {
                "docker_run": started - began,
                "checks": marks["checked"] - started,
                "supervisord_start": marks["supervisord_up"] - marks["checked"],
                "supervisord_wait": marks["spawned"] - marks["supervisord_up"],
                "app": answered - marks["spawned"],
            },
        }
        stopping = time.monotonic()
        common.docker("stop", "-t", STOP_TIMEOUT, name, timeout=STOP_TIMEOUT + 30)
        result["stop_s"] = time.monotonic() - stopping
        began = time.time()
        common.docker("start", name)
        result["restart_answer_s"] = common.wait_for_answer(port, container=name) - began
    finally:
        common.remove_containers(name)
    common.log(
        f"startup: run {index}: first answer {result['first_answer_s']:.2f} s, Docker healthy "
        f"{result['healthy_s']:.2f} s, graceful stop {result['stop_s']:.2f} s, answer after docker start "
        f"{result['restart_answer_s']:.2f} s; phases "
        + ", ".join(f"{key} {value:.2f} s" for key, value in result["phases_s"].items())
    )
    return result


def run(quick):
    plan = QUICK if quick else FULL
    image = common.shipped_image()
    settings = Path(tempfile.mkdtemp(prefix=common.PREFIX))
    try:
        options, variables = common.bench_environment(settings)
        runs = [one_run(index + 1, image, options, variables) for index in range(plan["runs"])]
    finally:
        shutil.rmtree(settings, ignore_errors=True)
    medians = {
        key: common.median(run[key] for run in runs)
        for key in ("first_answer_s", "healthy_s", "stop_s", "restart_answer_s")
    }
    medians["phases_s"] = {phase: common.median(run["phases_s"][phase] for run in runs) for phase in PHASES}
    ratios = {
        "healthy_over_first_answer": medians["healthy_s"] / medians["first_answer_s"],
        "restart_over_first_answer": medians["restart_answer_s"] / medians["first_answer_s"],
        "checks_share": medians["phases_s"]["checks"] / medians["first_answer_s"],
    }
    common.log(
        f"startup: median of {len(runs)}: first answer {medians['first_answer_s']:.2f} s, Docker healthy "
        f"{medians['healthy_s']:.2f} s, stop {medians['stop_s']:.2f} s, restart {medians['restart_answer_s']:.2f} s"
    )
    for name, ratio in ratios.items():
        common.log(f"startup: ratio {name} {ratio:.3f}")
    healthcheck = common.docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", image).stdout.strip()
    return {
        "image": image,
        "runs": runs,
        "medians": medians,
        "ratios": ratios,
        "healthcheck": healthcheck,
        "poll_interval_s": 0.02,
    }


# --- the report -----------------------------------------------------------------------------------


def figure(result, path):
    import matplotlib.pyplot as plt

    medians = result["medians"]
    fig, ax = plt.subplots(figsize=(8, 2.8))
    left = 0.0
    colours = ["#bbbbbb", "#ee7733", "#4477aa", "#99bbdd", "#66aa55"]
    for (phase, label), colour in zip(PHASES.items(), colours, strict=True):
        width = medians["phases_s"][phase]
        ax.barh(["docker run"], [width], left=left, color=colour, label=label)
        left += width
    ax.barh(["docker start\n(after a stop)"], [medians["restart_answer_s"]], color="#999999")
    ax.axvline(medians["healthy_s"], color="#aa3377", linestyle="--", label="Docker reports healthy")
    ax.set_xlabel(f"seconds (median of {len(result['runs'])} runs)")
    ax.set_xlim(0, medians["healthy_s"] * 1.1)
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=2)
    ax.set_title("From docker run to the first 200 through nginx")
    common.save_figure(fig, path, dpi=100, layout=False, bbox_inches="tight")


def section(result, figures):
    figure(result, figures / "startup.png")
    medians, ratios, runs = result["medians"], result["ratios"], result["runs"]
    phases = medians["phases_s"]
    lines = [
        "## Start-up",
        "",
        f"The shipped image (`{result['image']}`, SQLite, one container at a time) started {len(runs)} times with "
        f"`docker run`, /healthz polled through nginx every {result['poll_interval_s'] * 1000:.0f} ms; each "
        f"container then stopped with `docker stop -t {STOP_TIMEOUT}` and started again with `docker start`. "
        "Phases are read from Docker's log timestamps.",
        "",
        "| | Median | Runs |",
        "|---|---:|---|",
    ]
    rows = {
        "first_answer_s": "`docker run` → first 200",
        "healthy_s": "`docker run` → Docker's status healthy",
        "restart_answer_s": "`docker start` → first 200",
        "stop_s": "`docker stop` (graceful)",
    }
    for key, label in rows.items():
        lines.append(f"| {label} | {medians[key]:.2f} s | {', '.join(f'{run[key]:.2f}' for run in runs)} |")
    for phase, label in PHASES.items():
        values = ", ".join(f"{run['phases_s'][phase]:.2f}" for run in runs)
        lines.append(f"| phase: {label} | {phases[phase]:.2f} s | {values} |")
    lines += [
        f"| ratio: healthy ÷ first answer | {ratios['healthy_over_first_answer']:.2f} | |",
        f"| ratio: `docker start` ÷ `docker run` | {ratios['restart_over_first_answer']:.2f} | |",
        f"| ratio: cmd.sh's checks ÷ first answer | {ratios['checks_share']:.2f} | |",
        "",
        "![Start-up](benchmarks/startup.png)",
        "",
    ]
    slowest = max(PHASES, key=lambda phase: phases[phase])
    spread = [run["phases_s"][slowest] for run in runs]
    restart = ratios["restart_over_first_answer"]
    why = (
        " supervisord polls its sockets once, for up to a second, before it spawns its programs: a fixed cost "
        "of supervisord, not of the app."
        if slowest == "supervisord_wait"
        else ""
    )
    lines.append(
        f"**Start-up.** A new container answered its first request {medians['first_answer_s']:.1f} s after "
        f'`docker run`. The largest phase was "{PHASES[slowest]}": {phases[slowest]:.2f} s '
        f"({min(spread):.2f} to {max(spread):.2f} s across runs).{why} cmd.sh's up-front checks took "
        f"{phases['checks']:.2f} s, {ratios['checks_share'] * 100:.0f}% of the start-up: the price of stopping a "
        "misconfigured container with a message that names the variable, instead of a crash loop. A stopped "
        f"container started again in {medians['restart_answer_s']:.1f} s "
        f"({'about as long as' if abs(restart - 1) < 0.1 else f'{restart:.2f} times as long as'} a new one). Docker "
        f"reported the container healthy only after {medians['healthy_s']:.1f} s, "
        f"{ratios['healthy_over_first_answer']:.1f} times later than its first answer, because its first health "
        "check runs one interval (10 s) after the start. For a user: a deploy that polls /healthz itself, as the "
        "role does, switches a host seconds sooner than one that waits for Docker's health status; and a graceful "
        f"stop took {medians['stop_s']:.1f} s, which a rolling deploy pays once per host."
    )
    return "\n".join(lines) + "\n"

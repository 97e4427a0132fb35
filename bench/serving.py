"""Serving: requests per second and p50/p99 latency of the same Django app behind four front ends.

  a. the image as shipped: nginx -> uWSGI over its Unix socket;
  b. the same image, nginx -> uWSGI over TCP on the container's loopback (bench/images/tcp, derived
     from the shipped image, which has no such switch);
  c. uWSGI serving HTTP itself (its HTTP router, keep-alive on), no nginx in the path;
  d. gunicorn behind the same nginx, on the same Unix socket (bench/images/gunicorn).

Every variant runs the same 2 processes x 2 threads and harakiri (the image's defaults), on SQLite,
without recycling workers: a recycled uWSGI worker can leave the others alone for up to a second,
whatever the front end, and that would decide the p99 of short runs. Two more containers show what
recycling costs: (a') is the image with its default (no recycling) and (a'') recycles every 5000
requests, the workers' limits staggered by the image. wrk runs on this machine
against containers published on 127.0.0.1, on two views: /ping (no database, no template) and
/healthz (one SELECT 1). The containers run side by side and are measured in turns, the order
rotating each round, so that the machine's noise falls on all of them.
"""

import re
import shutil
import sys
import tempfile
from pathlib import Path

import common

VARIANTS = {
    "unix": "a. nginx → uWSGI, Unix socket (shipped)",
    "tcp": "b. nginx → uWSGI, TCP on loopback",
    "uwsgi-http": "c. uWSGI's own HTTP, no nginx",
    "gunicorn": "d. nginx → gunicorn, Unix socket",
    "default": "a'. (a) with the image's default recycling (none)",
    "recycling": "a''. (a) recycling every 5000 requests, staggered",
}
SHIPPED = "unix"
RATIOS = {"a/b": "tcp", "a/c": "uwsgi-http", "a/d": "gunicorn", "a/a'": "default", "a/a''": "recycling"}
PATHS = {"/ping": "no database", "/healthz": "one SELECT 1 on SQLite"}
WORKERS = {"UWSGI_PROCESSES": "2", "UWSGI_THREADS": "2", "UWSGI_MAX_REQUESTS": "0"}
RECYCLING = "5000"  # (a''); the image's default is 0, no recycling
CONNECTIONS = 16
WRK_THREADS = 2
# Rounds of 10 s: a p99 over 3 s varied up to 2.6x between two containers of one configuration, and
# over 5 s still up to 1.75x.
FULL = {"rounds": 5, "seconds": 10, "warmup": 1}
QUICK = {"rounds": 1, "seconds": 2, "warmup": 1}
GUNICORN = common.ROOT / "bench" / "images" / "gunicorn"
TCP = common.ROOT / "bench" / "images" / "tcp"

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def parse_wrk(text):
    """Requests/s, p50/p99 (ms), request count and failures from `wrk --latency` output."""

    def duration(label):
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
        if not match:
            raise ValueError(f"no {label}% latency in wrk's output:\n{text}")
        return float(match.group(1)) * UNITS_MS[match.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    requests = re.search(r"^\s*(\d+) requests in", text, re.MULTILINE)
    if not rps or not requests:
        raise ValueError(f"unexpected wrk output:\n{text}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(rps.group(1)),
        "p50_ms": duration(50),
        "p99_ms": duration(99),
        "requests": int(requests.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in sockets.groups()) if sockets else 0,
    }


def wrk(port, path, seconds):
    command = [
        "wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
        "-H", f"Host: {common.SITE}", f"http://127.0.0.1:{port}{path}",
    ]  # fmt: skip
    return parse_wrk(common.sh(*command, timeout=seconds + 60).stdout)


def build_gunicorn_image(shipped):
    """bench/images/gunicorn on top of the shipped image; gunicorn is pip-installed here, for the
    image's Python, into the build context (so the build itself needs no package index)."""
    python = common.docker("run", "--rm", shipped, "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    context = Path(tempfile.mkdtemp(prefix=common.PREFIX))
    try:
        shutil.copytree(GUNICORN, context, dirs_exist_ok=True)
        common.sh(
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", context / "site-packages", "--only-binary=:all:", "--implementation", "py",
            "--python-version", python.stdout.strip(), "--no-compile", "-r", context / "requirements.txt",
        )  # fmt: skip
        tag = f"{common.PREFIX}gunicorn:{shipped.rsplit(':', 1)[1]}"
        common.docker("buildx", "build", "--quiet", "--build-arg", f"APP_IMAGE={shipped}", "--tag", tag, context)
        return tag
    finally:
        shutil.rmtree(context, ignore_errors=True)


def build_tcp_image(shipped):
    """bench/images/tcp on top of the shipped image: nginx reaches uWSGI on 127.0.0.1:8001."""
    tag = f"{common.PREFIX}tcp:{shipped.rsplit(':', 1)[1]}"
    common.docker("buildx", "build", "--quiet", "--build-arg", f"APP_IMAGE={shipped}", "--tag", tag, TCP)
    return tag


def check_tcp_variant(name):
    """(b) really goes over TCP: uWSGI listens on 127.0.0.1:8001, and there is no Unix socket."""
    listening = common.docker("exec", name, "awk", '$4 == "0A" {print $2}', "/proc/net/tcp").stdout.split()
    socket = common.docker("exec", name, "test", "-e", "/run/uwsgi/app.sock", check=False)
    if "0100007F:1F41" not in listening or socket.returncode == 0:
        raise SystemExit(f"serving: {name} does not reach uWSGI over TCP on 127.0.0.1:8001 (bench/images/tcp)")


def start_variants(shipped, tcp, gunicorn, options, variables):
    """The containers, one per variant, each published on a port of 127.0.0.1; returns {variant: port}."""
    base = {**variables, **WORKERS}
    default = {key: value for key, value in base.items() if key != "UWSGI_MAX_REQUESTS"}
    specs = {
        "unix": (shipped, base, 80),
        "tcp": (tcp, base, 80),
        # uWSGI reads UWSGI_<option> variables as options: its HTTP router on :8000, with keep-alive
        # so that wrk's connections are reused as they are with nginx.
        "uwsgi-http": (shipped, {**base, "UWSGI_HTTP": ":8000", "UWSGI_HTTP_KEEPALIVE": "1"}, 8000),
        "gunicorn": (gunicorn, base, 80),
        "default": (shipped, default, 80),
        "recycling": (shipped, {**base, "UWSGI_MAX_REQUESTS": RECYCLING}, 80),
    }
    ports = {}
    for variant, (image, env, inside) in specs.items():
        ports[variant] = common.free_port()
        common.run_container(
            f"{common.PREFIX}serving-{variant}", image, *options,
            "--publish", f"127.0.0.1:{ports[variant]}:{inside}", env=env,
        )  # fmt: skip
    for variant, port in ports.items():
        common.wait_for_answer(port, "/ping", container=f"{common.PREFIX}serving-{variant}")
    check_tcp_variant(f"{common.PREFIX}serving-tcp")
    return ports


def summarize(runs):
    """Medians per variant and path; and each ratio a/x as the median of its per-round ratios, since
    (a) and (x) ran seconds apart within a round, under the same load from the rest of the machine."""
    medians = {}
    for variant in VARIANTS:
        medians[variant] = {}
        for path in PATHS:
            mine = [run for run in runs if run["variant"] == variant and run["path"] == path]
            medians[variant][path] = {
                "rps": common.median(run["rps"] for run in mine),
                "p50_ms": common.median(run["p50_ms"] for run in mine),
                "p99_ms": common.median(run["p99_ms"] for run in mine),
                "failed": sum(run["non_2xx"] + run["socket_errors"] for run in mine),
                "requests": sum(run["requests"] for run in mine),
            }
    by_key = {(run["round"], run["variant"], run["path"]): run for run in runs}
    rounds = sorted({run["round"] for run in runs})
    ratios = {}
    for name, other in RATIOS.items():
        ratios[name] = {}
        for path in PATHS:
            pairs = [(by_key[(r, SHIPPED, path)], by_key[(r, other, path)]) for r in rounds]
            per_round = {
                "rps": [a["rps"] / x["rps"] for a, x in pairs],
                "p50": [a["p50_ms"] / x["p50_ms"] for a, x in pairs],
                "p99": [a["p99_ms"] / x["p99_ms"] for a, x in pairs],
            }
            ratios[name][path] = {key: common.median(values) for key, values in per_round.items()}
            ratios[name][path]["rounds"] = per_round
    return medians, ratios


def run(quick):
    plan = QUICK if quick else FULL
    shipped = common.shipped_image()
    common.log(f"serving: image {shipped}; wrk {WRK_THREADS} threads, {CONNECTIONS} connections, {plan}")
    gunicorn = build_gunicorn_image(shipped)
    tcp = build_tcp_image(shipped)
    names = [f"{common.PREFIX}serving-{variant}" for variant in VARIANTS]
    settings = Path(tempfile.mkdtemp(prefix=common.PREFIX))
    runs = []
    try:
        options, variables = common.bench_environment(settings)
        ports = start_variants(shipped, tcp, gunicorn, options, variables)
        for port in ports.values():
            for path in PATHS:
                wrk(port, path, plan["warmup"])
        order = list(VARIANTS)
        for round_ in range(plan["rounds"]):
            for path in PATHS:
                for variant in order:
                    result = {"round": round_ + 1, "variant": variant, "path": path}
                    result.update(wrk(ports[variant], path, plan["seconds"]))
                    runs.append(result)
                    common.log(
                        f"serving: round {round_ + 1} {variant:10} {path:8} {result['rps']:8.0f} req/s"
                        f"  p50 {result['p50_ms']:6.2f} ms  p99 {result['p99_ms']:7.2f} ms"
                        f"  failed {result['non_2xx'] + result['socket_errors']} of {result['requests']}"
                    )
            order = order[1:] + order[:1]
    finally:
        common.remove_containers(*names)
        common.remove_images(gunicorn, tcp)
        shutil.rmtree(settings, ignore_errors=True)
    medians, ratios = summarize(runs)
    for variant in VARIANTS:
        for path in PATHS:
            m = medians[variant][path]
            common.log(
                f"serving: median {variant:10} {path:8} {m['rps']:8.0f} req/s"
                f"  p50 {m['p50_ms']:6.2f} ms  p99 {m['p99_ms']:7.2f} ms"
            )
    for name, by_path in ratios.items():
        for path, ratio in by_path.items():
            common.log(
                f"serving: {name} {path:8} req/s x{ratio['rps']:.3f}  p50 x{ratio['p50']:.3f}  p99 x{ratio['p99']:.3f}"
            )
    return {
        "image": shipped,
        "gunicorn": (GUNICORN / "requirements.txt").read_text().split("==")[-1].strip(),
        "wrk": {"threads": WRK_THREADS, "connections": CONNECTIONS, **plan},
        "workers": {"processes": int(WORKERS["UWSGI_PROCESSES"]), "threads": int(WORKERS["UWSGI_THREADS"])},
        "variants": VARIANTS,
        "paths": PATHS,
        "runs": runs,
        "medians": medians,
        "ratios": ratios,
    }


# --- the report -----------------------------------------------------------------------------------


def letter(variant):
    """'a.', 'b.', "a'." -> 'a', 'b', "a'"."""
    return VARIANTS[variant].split(".", 1)[0]


def more_or_fewer(ratio):
    """Throughput of (a) against another: 1.07 -> '7% more'; 0.90 -> '10% fewer'."""
    change = (ratio - 1) * 100
    return f"{abs(change):.0f}% {'more' if change >= 0 else 'fewer'}"


def direction(values):
    """'above' when every round's ratio is above 1, 'below' when every one is below, else 'mixed'."""
    if all(value > 1 for value in values):
        return "above"
    if all(value < 1 for value in values):
        return "below"
    return "mixed"


def verdict(result):
    """Whether the Unix socket served more than TCP: in every round, on both views."""
    directions = {direction(result["ratios"]["a/b"][path]["rounds"]["rps"]) for path in PATHS}
    if directions == {"above"}:
        return "confirmed"
    if directions == {"below"}:
        return "refuted"
    return "not shown"


def figure_throughput(result, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(VARIANTS)
    for index, variant in enumerate(VARIANTS):
        xs, heights, low, high = [], [], [], []
        for position, route in enumerate(PATHS):
            values = [r["rps"] for r in result["runs"] if r["variant"] == variant and r["path"] == route]
            middle = result["medians"][variant][route]["rps"]
            xs.append(position + (index - (len(VARIANTS) - 1) / 2) * width)
            heights.append(middle)
            low.append(middle - min(values))
            high.append(max(values) - middle)
        ax.bar(xs, heights, width, yerr=[low, high], capsize=3, label=VARIANTS[variant])
    ax.set_xticks(range(len(PATHS)), [f"{route} ({what})" for route, what in PATHS.items()])
    ax.set_ylim(0, max(r["rps"] for r in result["runs"]) * 1.45)  # room for the legend
    ax.set_ylabel("requests/s: median, min-max of rounds")
    ax.set_title(f"Throughput, {result['wrk']['connections']} connections, {result['machine']['cores']} cores")
    ax.legend(fontsize="small", loc="upper right")
    common.save_figure(fig, path, dpi=100)


def figure_latency(result, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    labels = [f"{letter(v)}. {v}" for v in VARIANTS]
    for ax, route in zip(axes, PATHS, strict=True):
        p50 = [result["medians"][v][route]["p50_ms"] for v in VARIANTS]
        p99 = [result["medians"][v][route]["p99_ms"] for v in VARIANTS]
        xs = list(range(len(VARIANTS)))
        ax.bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], p99, 0.4, label="p99")
        ax.set_yscale("log")
        ax.set_xticks(xs, labels, rotation=20, fontsize="small")
        ax.set_title(route)
        ax.set_ylabel("ms, median of rounds (log scale)")
        ax.legend(fontsize="small")
    fig.suptitle(f"Latency under {result['wrk']['connections']} connections")
    common.save_figure(fig, path, dpi=100)


def section(result, figures):
    figure_throughput(result, figures / "serving-throughput.png")
    figure_latency(result, figures / "serving-latency.png")
    medians, ratios = result["medians"], result["ratios"]
    plan, workers = result["wrk"], result["workers"]
    threads = workers["processes"] * workers["threads"]
    lines = [
        "## Serving",
        "",
        f"wrk ({plan['threads']} threads, {plan['connections']} connections) on this machine against containers "
        f"published on 127.0.0.1: {plan['rounds']} rounds of {plan['seconds']} s per variant and view, after a "
        f"{plan['warmup']} s warm-up, the variants measured in turns within each round. Every variant runs "
        f"{workers['processes']} processes x {workers['threads']} threads with the image's harakiri, on SQLite "
        f"(image `{result['image']}`), without recycling workers except in (a''). `/ping` touches neither the "
        "database nor a template; `/healthz` runs one `SELECT 1`. (b) is the image derived by `bench/images/tcp` "
        "(nginx reaches uWSGI on 127.0.0.1:8001; the shipped image has no such switch); (c) is the image's uWSGI "
        f"with its own HTTP router on a port (`UWSGI_HTTP`, keep-alive on), nginx idle; (d) is gunicorn "
        f"{result['gunicorn']} (gthread, app preloaded like uWSGI's) in uWSGI's place behind the same nginx "
        "(`bench/images/gunicorn`); (a') is (a) with the image's default recycling (`UWSGI_MAX_REQUESTS` unset: "
        f"none); (a'') is (a) with `UWSGI_MAX_REQUESTS={RECYCLING}`, each worker's limit staggered by the image.",
        "",
        "| Variant | " + " | ".join(f"{p} req/s | {p} p50 ms | {p} p99 ms" for p in PATHS) + " |",
        "|---|" + "---:|" * 3 * len(PATHS),
    ]
    for variant, label in VARIANTS.items():
        cells = []
        for route in PATHS:
            m = medians[variant][route]
            cells += [f"{m['rps']:.0f}", f"{m['p50_ms']:.2f}", f"{m['p99_ms']:.1f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratios of (a) to each other variant, the median of the per-round ratios (each round ran the two seconds "
        "apart): above 1 for req/s, below 1 for latency, favour (a). In brackets, the lowest and highest round.",
        "",
        "| Ratio | " + " | ".join(f"{p} req/s | {p} p50 | {p} p99" for p in PATHS) + " |",
        "|---|" + "---:|" * 3 * len(PATHS),
    ]
    for name, other in RATIOS.items():
        cells = []
        for route in PATHS:
            r = ratios[name][route]
            rps = r["rounds"]["rps"]
            cells += [f"{r['rps']:.2f} ({min(rps):.2f} to {max(rps):.2f})", f"{r['p50']:.2f}", f"{r['p99']:.2f}"]
        lines.append(f"| {name}: {VARIANTS[other][len(letter(other)) + 2 :]} | " + " | ".join(cells) + " |")

    failed = {(v, p): m["failed"] for v, by_path in medians.items() for p, m in by_path.items() if m["failed"]}
    if failed:
        listed = ", ".join(f"({letter(v)}) {p}: {n}" for (v, p), n in failed.items())
        failures = f"Some requests failed (non-2xx or socket errors), which flatters those figures: {listed}."
    else:
        total = sum(m["requests"] for by_path in medians.values() for m in by_path.values())
        failures = f"All {total} requests were answered 2xx, without a socket error."

    def against(name):
        return ", ".join(f"{more_or_fewer(ratios[name][route]['rps'])} on {route}" for route in PATHS)

    nginx = {direction(ratios["a/c"][route]["rounds"]["rps"]) for route in PATHS}
    if nginx == {"above"}:
        nginx_text = (
            "nginx in front cost nothing measurable; the shipped image served more than uWSGI's own HTTP router in "
            "every round, and nginx also serves the static files, buffers slow clients and terminates TLS."
        )
    elif nginx == {"below"}:
        nginx_text = (
            "uWSGI alone served more in every round, as nginx takes CPU that the workers would use on a machine "
            "this small; it buys static files served without Django, slow clients kept away from the workers, and TLS."
        )
    else:
        nginx_text = (
            "the rounds disagreed, so nginx in front costs little next to the static files, client buffering "
            "and TLS it brings."
        )
    gunicorn = {direction(ratios["a/d"][route]["rounds"]["rps"]) for route in PATHS}
    gunicorn = {direction(ratios["a/d"][route]["rounds"]["rps"]) for route in PATHS}
    if gunicorn == {"above"}:
        gunicorn_text = f"uWSGI served more than gunicorn with the same workers in every round ({against('a/d')})."
    elif gunicorn == {"below"}:
        gunicorn_text = f"gunicorn served more than uWSGI with the same workers in every round ({against('a/d')})."
    else:
        gunicorn_text = f"uWSGI and gunicorn traded places between rounds (in the median, {against('a/d')})."
    lines += [
        "",
        "![Requests per second](benchmarks/serving-throughput.png)",
        "",
        f"**Throughput.** The shipped image answered {medians[SHIPPED]['/ping']['rps']:.0f} requests per second on "
        f"/ping and {medians[SHIPPED]['/healthz']['rps']:.0f} on /healthz, on {result['machine']['cores']} cores "
        f"shared with the load generator. Against uWSGI serving HTTP itself it served {against('a/c')}: "
        f"{nginx_text} {gunicorn_text} {failures} For a user: on a small host the whole stack is CPU-bound, so "
        "a front end's cost per request shows as throughput; a real page that renders templates and queries a "
        "database spends far longer in Django, and these differences shrink in proportion.",
    ]

    state = verdict(result)
    tcp = ratios["a/b"]
    tcp_numbers = (
        f"a/b in req/s was {tcp['/ping']['rps']:.2f} on /ping and {tcp['/healthz']['rps']:.2f} on /healthz, "
        f"between {min(min(tcp[route]['rounds']['rps']) for route in PATHS):.2f} and "
        f"{max(max(tcp[route]['rounds']['rps']) for route in PATHS):.2f} in single rounds; p50 "
        f"{tcp['/ping']['p50']:.2f} and {tcp['/healthz']['p50']:.2f}"
    )
    medians_ab = [tcp[route]["rps"] for route in PATHS]
    if all(value > 1 for value in medians_ab):
        leaning = "the Unix socket served more than TCP at the median"
    elif all(value < 1 for value in medians_ab):
        leaning = "TCP served more than the Unix socket at the median"
    else:
        leaning = "the medians of the two views point different ways"
    socket_text = {
        "confirmed": f"**confirmed**: the Unix socket served more than TCP in every round, on both views "
        f"({tcp_numbers}).",
        "refuted": f"**refuted**: TCP on loopback served more than the Unix socket in every round, on both views "
        f"({tcp_numbers}).",
        "not shown": f"**not shown** by this run: {leaning}, but not in every round on both views ({tcp_numbers}), "
        "so on this machine the difference is within the noise of the rest of the stack.",
    }[state]
    default = ratios["a/a'"]
    worst_default = max(max(default[path]["rounds"]["p99"]) for path in PATHS)
    best_default = min(min(default[path]["rounds"]["p99"]) for path in PATHS)
    staggered = medians["recycling"]["/ping"]["p99_ms"] / medians[SHIPPED]["/ping"]["p99_ms"]
    staggered_rps = ratios["a/a''"]["/ping"]["rps"]
    # a/a' below 1: (a') had the higher p99. The criterion is (a') at most 1.5 times (a)'s in every round.
    default_worst = 1 / best_default
    recycling_worst = 1 / min(min(ratios["a/a''"][path]["rounds"]["p99"]) for path in PATHS)
    recycling_text = (
        "**Recycling.** The image recycles no worker by default: (a'), the image as it comes, had a p99 "
        + (
            f"at most {default_worst:.2f} times (a)'s in every round, on both views, within the 1.5x aimed at"
            if default_worst <= 1.5
            else f"up to {default_worst:.2f} times (a)'s in one round, beyond the 1.5x aimed at"
        )
        + f" (a/a' p99 from {best_default:.2f} to {worst_default:.2f}; above 1, (a) was the slower one): the two run"
        " one configuration, so what separates them is this machine's noise on a p99. With recycling on (a'', every "
        f"{RECYCLING} requests, the workers' limits staggered), the p99 on /ping was "
        f"{medians['recycling']['/ping']['p99_ms']:.0f} ms at the median, {staggered:.1f} times that of (a), and up to "
        f"{recycling_worst:.1f} times in a single round, and (a) served {more_or_fewer(staggered_rps)} "
        "requests: a recycled worker leaves the others alone until it is back. Set `UWSGI_MAX_REQUESTS` only for "
        "an app that leaks memory, and then as high as the leak allows."
    )
    lines += [
        "",
        "![Latency](benchmarks/serving-latency.png)",
        "",
        f"**Latency, and the Unix socket.** The original chose the Unix socket for its lower overhead; that is "
        f"{socket_text} Either way the socket keeps the uwsgi protocol off every network: only processes in its "
        f"own group, dockerable-socket (nginx's workers), can reach it (mode 0660), where a TCP port must be kept to "
        f"loopback. At the median the "
        f"shipped image answered in {medians[SHIPPED]['/ping']['p50_ms']:.1f} ms on /ping and its p99 was "
        f"{medians[SHIPPED]['/ping']['p99_ms']:.0f} ms, with {plan['connections']} clients sharing {threads} "
        f"threads. {recycling_text}",
    ]
    return "\n".join(lines) + "\n"

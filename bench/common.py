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
import http.client
import json
import os
import platform
import posixpath
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
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


def save_figure(fig, path, dpi, layout=True, **options):
    """Writes a plot to its PNG (tight layout unless told otherwise) and frees it."""
    import matplotlib.pyplot as plt

    if layout:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi, **options)
    plt.close(fig)


def write_result(name, data, quick):
    path = results_dir(quick) / f"{name}.json"
    payload = {"benchmark": name, "quick": quick, "machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    log(f"{name}: wrote {path}")
    return path


def read_result(name, directory=RESULTS):
    path = Path(directory) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# --- Docker objects the benchmarks create: every name starts with PREFIX, and all are removed ----

PREFIX = "dockerable-bench-"
APP_GID = 10001  # the image's django group: secrets.json is readable by it (app/dockerable/Dockerfile)
SITE = "bench.test"  # the site name every benchmark container serves


def last_line(result):
    return result.stdout.strip().splitlines()[-1]


def built_image(result):
    """The image that scripts/build-image.sh built (or found): its one line of JSON on stdout."""
    return json.loads(result.stdout)["image"]


def shipped_image():
    """The image as shipped: the demo project in app/ with the kit (app/dockerable/), built by
    scripts/build-image.sh (nothing is built when its tag exists)."""
    return built_image(sh("scripts/build-image.sh"))


def base_image():
    """The base the image is built on (scripts/base-image.sh: pulled, or built from Debian's archive)."""
    return last_line(sh("scripts/base-image.sh"))


def copy_repository(directory, under=None, leave_out=()):
    """The repository's files as git sees them (tracked, or new and not ignored), copied into
    `directory`: all of them, or those under the folder `under` (then relative to it), less the
    folders `leave_out` (relative paths too). A copy is what a benchmark changes and builds, so that
    other work in the checkout does not change what it measures. Returns `directory`."""
    directory = Path(directory)
    prefix = f"{under.rstrip('/')}/" if under else ""
    listed = sh("git", "ls-files", "-co", "--exclude-standard", "-z", "--", under or ".").stdout.split("\0")
    for name in filter(None, listed):
        relative = name.removeprefix(prefix)
        if any(relative == folder or relative.startswith(f"{folder}/") for folder in leave_out):
            continue
        origin, target = ROOT / name, directory / relative
        if not (origin.is_file() or origin.is_symlink()):  # listed by git, deleted in the checkout
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            target.symlink_to(origin.readlink())
        else:
            shutil.copy2(origin, target)
    return directory


def build_plan(repository):
    """How this machine builds the image of `repository`, a copy of this repository: its own
    scripts/build-plan.py (the demo in its app/, the kit in its app/dockerable/) with FORCE_BUILD=1,
    so that the build arguments are given (the base image, the release id, this machine's own CA
    certificates, the project's layout). The build context that the plan stages is removed at once:
    only the plan is wanted, and its "context" names a directory that no longer exists."""
    plan = json.loads(sh(Path(repository) / "scripts" / "build-plan.py", env={"FORCE_BUILD": "1"}).stdout)
    if plan["context"]:
        shutil.rmtree(plan["context"], ignore_errors=True)
    return plan


def bench_environment(directory):
    """An environment's settings as the role installs them (roles/.../settings.py.j2: the project's
    settings module extended, SQLite, the site SITE): settings.py and secrets.json (mode 0640, group
    APP_GID) in `directory`/release, mounted where the role mounts a release's settings. Returns the
    docker run options (the mount) and the variables that start the image with it."""
    settings_dir = Path(directory) / "release"
    settings_dir.mkdir(parents=True)
    settings_dir.chmod(0o755)
    (settings_dir / "__init__.py").write_text("")
    (settings_dir / "settings.py").write_text(
        "import json\n"
        "from pathlib import Path\n\n"
        "from project.settings.base import *  # noqa: F403\n\n"
        'SECRETS = json.loads(Path(__file__).with_name("secrets.json").read_text(encoding="utf-8"))\n'
        'SECRET_KEY = SECRETS["django_secret_key"]\n'
        "DEBUG = False\n"
        f"ALLOWED_HOSTS = [{SITE!r}]\n"
        'DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/app/data/db.sqlite3"}}\n'
        'STATIC_ROOT = "/var/www/static"\n'
        'STATIC_URL = "/static/"\n'
        'MEDIA_ROOT = "/app/media"\n'
        'MEDIA_URL = "/media/"\n'
        "LOGGING = {\n"
        '    "version": 1,\n'
        '    "disable_existing_loggers": False,\n'
        '    "formatters": {"plain": {"format": "{levelname} {name}: {message}", "style": "{"}},\n'
        '    "handlers": {"container": {"class": "dockerable.logging.ContainerLogHandler", "formatter": "plain"}},\n'
        '    "root": {"handlers": ["container"], "level": "INFO"},\n'
        '    "loggers": {"django": {"handlers": ["container"], "level": "INFO", "propagate": False}},\n'
        "}\n"
    )
    secrets_file = settings_dir / "secrets.json"
    secrets_file.write_text(json.dumps({"django_secret_key": secrets.token_urlsafe(50)}))
    os.chown(secrets_file, 0, APP_GID)
    secrets_file.chmod(0o640)
    options = ["--volume", f"{settings_dir}:/opt/dockerable/python/dockerable_release:ro"]
    variables = {"DJANGO_SETTINGS_MODULE": "dockerable_release.settings", "NGINX_SERVER_NAME": SITE}
    return options, variables


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_container(name, image, *options, env=None, command=()):
    """docker run --detach (a stale container of the same name is removed first); returns the name."""
    assert name.startswith(PREFIX), name
    docker("rm", "--force", "--volumes", name, check=False)
    arguments = ["run", "--detach", "--name", name]
    for key, value in (env or {}).items():
        arguments += ["--env", f"{key}={value}"]
    docker(*arguments, *options, image, *command)
    return name


def remove_containers(*names):
    for name in names:
        docker("rm", "--force", "--volumes", name, check=False)


def remove_images(*references):
    for reference in references:
        docker("image", "rm", "--force", reference, check=False)


def layers(reference):
    """An image's layers, the oldest first: [(diff id, bytes)], bytes being the layer's uncompressed
    tar in `docker save` (BuildKit leaves no intermediate images, so `docker history` names no layer)."""
    diff_ids = json.loads(docker("image", "inspect", "-f", "{{json .RootFS.Layers}}", reference).stdout)
    sizes, links, manifest = {}, {}, None
    with (
        subprocess.Popen(["docker", "save", reference], stdout=subprocess.PIPE) as saving,
        tarfile.open(fileobj=saving.stdout, mode="r|") as archive,
    ):
        for member in archive:
            if member.name == "manifest.json":
                manifest = json.load(archive.extractfile(member))
            elif member.issym():  # a layer that the image holds twice
                target = posixpath.join(posixpath.dirname(member.name), member.linkname)
                links[member.name] = posixpath.normpath(target)
            elif member.isfile():
                sizes[member.name] = member.size
    if saving.returncode != 0 or manifest is None:
        raise RuntimeError(f"docker save {reference} failed (exit {saving.returncode})")
    paths = [links.get(path, path) for path in manifest[0]["Layers"]]
    return list(zip(diff_ids, (sizes[path] for path in paths), strict=True))


def new_layers(before, after):
    """The layers of image `after` that image `before` lacks (what a code-only change added):
    {count, bytes} (uncompressed)."""
    known = {layer for layer, _ in layers(before)}
    fresh = [size for layer, size in layers(after) if layer not in known]
    return {"count": len(fresh), "bytes": sum(fresh)}


def dangling_images():
    """Untagged images (e.g. the one a rebuild took the tag from)."""
    return set(docker("images", "--quiet", "--no-trunc", "--filter", "dangling=true").stdout.split())


def get(port, path, host=SITE, timeout=5):
    """GET http://127.0.0.1:port/path with the Host header `host`: (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_for_answer(port, path="/healthz", container=None, timeout=120, interval=0.02, status=200):
    """Polls until `path` answers `status`; returns time.time() of that answer. While waiting, fails
    as soon as `container` (if given) is no longer running, with its logs."""
    deadline = time.monotonic() + timeout
    last = None
    checked = time.monotonic()
    while time.monotonic() < deadline:
        try:
            answer, _ = get(port, path, timeout=2)
            if answer == status:
                return time.time()
            last = f"HTTP {answer}"
        except (OSError, http.client.HTTPException) as error:
            last = repr(error)
        if container and time.monotonic() - checked > 1:
            checked = time.monotonic()
            if docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip() != "true":
                raise RuntimeError(f"{container} stopped while starting:\n{container_logs(container)}")
        time.sleep(interval)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer {status} within {timeout} s ({last})")


def container_logs(name, timestamps=False):
    """Both output streams of a container, in one text (with Docker's timestamps if asked)."""
    result = docker("logs", *(["--timestamps"] if timestamps else []), name, check=False)
    return result.stdout + result.stderr

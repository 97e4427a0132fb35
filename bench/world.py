"""The world of the deploy and downtime benchmarks: Molecule's `bench` scenario (two hosts with their own
Docker engines, PostgreSQL and a TLS registry under the domain bench.test), and deploys into it with the
project's own playbook, timed and read through Ansible's JSON-lines output.

The world lives as long as the process that created it: bench/deploy.py creates it, bench/downtime.py reuses it
when both run in one process (`python bench/run.py deploy downtime`), and it is destroyed when the last of them
ends, or on any failure, or at exit.
"""

import atexit
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import common
import yaml

SCENARIO = "bench"
DOMAIN = "bench.test"
ENVIRONMENT = "bench"
HOSTS = ["web1.bench.test", "web2.bench.test"]
NETWORK = f"molecule-{SCENARIO}"
REGISTRY = f"registry.{DOMAIN}"
DATABASE = f"db.{DOMAIN}"
DATABASE_NAME = "site"
DATABASE_USER = "site"
BALANCER = f"lb.{DOMAIN}"
# The name the balancer sends to both hosts (django_dockerable_extra_allowed_hosts in the scenario).
SITE_NAME = f"www.{DOMAIN}"
SCENARIO_DIR = common.ROOT / "bench" / "molecule" / SCENARIO
INVENTORY = SCENARIO_DIR / "inventory" / "hosts.yml"
PROJECT = "django-dockerable"
# The project that the deploys build and ship: the demo in app/, the kit's directory left out (the
# role applies the kit of this checkout to it, as to any project named by django_dockerable_app_dir).
PROJECT_DIR = "app"
KIT_DIR = "dockerable"
# A code-only change: one line of the stylesheet, distinct for every release (paths in the project).
CHANGED_FILE = Path("pages/static/pages/site.css")
# A release that never becomes healthy: its WSGI module cannot be imported at run time. Only then: the
# build imports it too (the kit's check of the project), without RELEASE_ID, and must succeed.
BROKEN_FILE = Path("project/wsgi.py")
BROKEN_LINE = "if __import__('os').environ.get('RELEASE_ID'): raise ImportError('a broken release')\n"

# The deploy's phases, named by the tasks of playbooks/deploy.yml that run them (the playbook's steps,
# as the README's "How it is built" lists them): each task of the role counts for the step that runs
# it. The rest (the checks, the lock, finding Docker, Ansible's own start-up) is "other". Read at each
# deploy, so a renamed step fails the benchmark instead of moving its time to "other".
PLAYBOOK = common.ROOT / "playbooks" / "deploy.yml"
PHASES = {
    "Build the image": "build",
    "Ship the image": "ship",
    "Write the release": "configure",
    "Start the edge and the bundled database": "configure",
    "Run the migrations once for the environment": "migrate",
    "Switch the hosts, a batch at a time": "switch",
}
PHASE_ORDER = ["build", "ship", "configure", "migrate", "switch", "other"]

_state = {"up": False, "guarded": False, "deployed": False, "work": None, "releases": set()}


def _bin_dir():
    return Path(sys.executable).parent


def _env():
    return {
        "PATH": f"{_bin_dir()}:{os.environ.get('PATH', '')}",
        "ANSIBLE_ROLES_PATH": str(common.ROOT / "roles"),
        "ANSIBLE_VAULT_IDENTITY_LIST": f"{ENVIRONMENT}@{SCENARIO_DIR / 'vault-password'}",
        # The world's scenario lives under bench/, not among the tests' (molecule/).
        "MOLECULE_GLOB": str(SCENARIO_DIR.parent.relative_to(common.ROOT) / "*" / "molecule.yml"),
        "ANSIBLE_FORCE_COLOR": "false",
        "ANSIBLE_NOCOLOR": "true",
    }


def work_dir():
    """A scratch directory for this process: the project's copy, the controller's archives and staged build
    contexts, the balancer's config."""
    if _state["work"] is None:
        _state["work"] = Path(tempfile.mkdtemp(prefix="dockerable-bench-world-"))
    return _state["work"]


def log_dir():
    """Deploy logs (JSON lines) are kept here after the run, to read when something failed."""
    path = Path(tempfile.gettempdir()) / "dockerable-bench-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def molecule(action):
    began = time.monotonic()
    common.sh(_bin_dir() / "molecule", action, "--scenario-name", SCENARIO, env=_env(), timeout=900)
    return time.monotonic() - began


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def acquire():
    """Creates the world unless this process already has it (a leftover of an earlier run is destroyed first).
    Returns the seconds it took (0 when reused)."""
    if _state["up"]:
        common.log("bench world: reusing the Molecule world of this run")
        return 0.0
    if not _state["guarded"]:
        _state["guarded"] = True
        atexit.register(destroy)
        signal.signal(signal.SIGTERM, _on_sigterm)
    common.log("bench world: molecule destroy + create -s bench")
    _remove_balancer()
    molecule("destroy")
    _state["up"] = True
    seconds = molecule("create")
    common.log(f"bench world: created in {seconds:.0f} s")
    return seconds


def release(keep):
    """A benchmark is done with the world: destroys it unless `keep` (another benchmark of this process may
    still use it; atexit destroys it in the end)."""
    if not keep:
        destroy()


def destroy():
    """Removes everything the benchmarks created: the balancer, the Molecule world, the images of the releases
    built from changed copies, and the scratch directory. Safe to call more than once."""
    _remove_balancer()
    if _state["up"]:
        common.log("bench world: molecule destroy -s bench")
        _state["up"] = False
        _state["deployed"] = False
        try:
            molecule("destroy")
        except Exception as error:  # report, and go on cleaning up
            common.log(f"bench world: destroy failed: {error}")
    # The controller's images of the changed releases, its tags for the scenario's registry, and its login.
    tagged = common.docker(
        "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"{REGISTRY}:5000/{PROJECT}", check=False
    )
    references = tagged.stdout.split() + [f"{PROJECT}:{release_id}" for release_id in sorted(_state["releases"])]
    if references:
        common.sh("docker", "image", "rm", *references, check=False)
    common.sh("docker", "logout", f"{REGISTRY}:5000", check=False)
    _state["releases"].clear()
    if _state["work"] is not None:
        shutil.rmtree(_state["work"], ignore_errors=True)
        _state["work"] = None


def _remove_balancer():
    common.sh("docker", "rm", "--force", BALANCER, check=False)


def address(container):
    """The container's address on the scenario's network, reachable from this machine."""
    out = common.docker(
        "inspect", "--format", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}', container
    )
    return out.stdout.strip()


def reset_hosts():
    """Returns the hosts to the state of a fresh world: no container, no image, no environment directory, and an
    empty database, so that every first deploy ships the whole image and runs every migration."""
    for host in HOSTS:
        common.docker(
            "exec",
            host,
            "sh",
            "-c",
            "docker ps -aq | xargs -r docker rm --force --volumes >/dev/null;"
            " docker image prune --all --force >/dev/null;"
            f" rm -rf /srv/{PROJECT} /etc/cron.d/{PROJECT}-*",
        )
    common.docker(
        "exec",
        DATABASE,
        "psql",
        "--quiet",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-c",
        f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)',
        "-c",
        f'CREATE DATABASE "{DATABASE_NAME}" OWNER "{DATABASE_USER}"',
    )
    _state["deployed"] = False


def deployed():
    return _state["deployed"]


def release_id(project):
    """The release id (image tag) of the project copy `project`, built with this checkout's kit."""
    return common.sh("scripts/release-id.sh", env={"APP_DIR": str(project)}).stdout.strip()


def source(change=None, broken=False):
    """A copy of the project (as git sees it, made once per process, so that other work in the checkout does
    not change what is deployed) and its release id (the image's tag). `change` names a code-only change no other
    release has (one line of the stylesheet); None gives the project as it is. `broken`: a release whose WSGI
    module cannot be imported at run time (it builds, and never becomes healthy). Deploys build the copy as
    django_dockerable_app_dir, with this checkout's kit."""
    copy = work_dir() / "project"
    # Kept outside the copy: every file in it counts in the release id.
    original = work_dir() / CHANGED_FILE.name
    wsgi = work_dir() / BROKEN_FILE.name
    if not copy.exists():
        common.copy_repository(copy, under=PROJECT_DIR, leave_out=(KIT_DIR,))
        shutil.move(copy / CHANGED_FILE, original)
        shutil.copy2(copy / BROKEN_FILE, wsgi)
    (copy / BROKEN_FILE).write_text((BROKEN_LINE if broken else "") + wsgi.read_text())
    text = original.read_text()
    if change is not None:
        text = text.rstrip("\n") + f"\n/* bench {change} {uuid.uuid4().hex[:12]} */\n"
    (copy / CHANGED_FILE).write_text(text)
    release = release_id(copy)
    if change is not None:
        _state["releases"].add(release)
    return copy, release


def base_release():
    """Builds the project's own release on the controller and returns its id, so that no timed first deploy
    pays for a build and every ship mode starts from the same image. The build is forced: with a warm layer
    cache it takes seconds and gives the same image; after the cache was pruned it rebuilds, so that the base
    release and the code-only changes built from the cache share every layer but the changed ones."""
    copy, release = source()
    env = {"APP_DIR": str(copy), "FORCE_BUILD": "1"}
    built = common.sh("scripts/build-image.sh", env=env, timeout=1800)
    reference = common.built_image(built)
    if reference.rsplit(":", 1)[1] != release:
        raise RuntimeError(f"build-image.sh built {reference}, expected release {release}")
    return release


def new_layers(before, after):
    """Layers of the controller's image of release `after` that release `before` lacks: {count, bytes}
    (uncompressed), what a code-only change added."""
    return common.new_layers(f"{PROJECT}:{before}", f"{PROJECT}:{after}")


def _timestamp(value):
    return datetime.datetime.fromisoformat(value.rstrip("Z"))


def deploy(label, mode, project=None, limit=ENVIRONMENT, playbook="deploy.yml", extra=(), expect_failure=False):
    """Runs playbooks/deploy.yml against the scenario's inventory, with `project` (a copy from source()) as the
    project to build unless None, and returns what it did: wall time, the time of each phase, the archive bytes
    each host received (ship mode archive), and the run's recap."""
    argv = [
        _bin_dir() / "ansible-playbook",
        "-i",
        INVENTORY,
        common.ROOT / "playbooks" / playbook,
        "-l",
        limit,
        "-e",
        f"django_dockerable_ship_mode={mode}",
    ]
    if project is not None:
        argv += ["-e", f"django_dockerable_app_dir={project}"]
    for value in extra:
        argv += ["-e", value]
    env = {
        **os.environ,
        **_env(),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.jsonl",
        # The controller's image archives go to this run's scratch directory, removed at the end.
        "TMPDIR": str(work_dir()),
    }
    began = time.monotonic()
    process = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, cwd=common.ROOT, timeout=900
    )
    wall = time.monotonic() - began
    logfile = log_dir() / f"deploy-{label}.jsonl"
    logfile.write_text(process.stdout + process.stderr)
    events = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    if expect_failure and process.returncode == 0:
        raise RuntimeError(f"deploy {label} ({mode}) was expected to fail, and did not (log: {logfile})")
    if process.returncode != 0 and not expect_failure:
        failures = [
            f"{host}: {task['task']['name']}: {result.get('msg', '')}"
            for task in events
            if task.get("_event") in ("v2_runner_on_failed", "v2_runner_on_unreachable")
            for host, result in task["hosts"].items()
        ]
        raise RuntimeError(
            f"deploy {label} ({mode}) failed (log: {logfile}):\n"
            + "\n".join(failures or [process.stderr[-3000:] or process.stdout[-3000:]])
        )
    _state["deployed"] = True
    summary = {
        "label": label,
        # How busy this shared machine was (1-minute load average, at the end), to read the times with.
        "load_average": round(os.getloadavg()[0], 2),
        "mode": mode,
        "limit": limit,
        "wall_s": round(wall, 2),
        "phases_s": _phases(events, wall),
        "archive_bytes": _archive_bytes(events),
        "recap": next((e["stats"] for e in events if e.get("_event") == "v2_playbook_on_stats"), {}),
    }
    changed = {host: stats.get("changed", 0) for host, stats in summary["recap"].items()}
    common.log(f"deploy {label} ({mode}, -l {limit}): {wall:.1f} s, changed {changed}, phases {summary['phases_s']}")
    return summary


def _playbook_steps():
    """The names of playbooks/deploy.yml's tasks, blocks included; fails when a step of PHASES is gone."""
    plays = yaml.safe_load(PLAYBOOK.read_text())
    names = set()

    def walk(tasks):
        for task in tasks or []:
            names.add(task.get("name"))
            for key in ("block", "rescue", "always"):
                walk(task.get(key))

    for play in plays:
        walk(play.get("tasks"))
    missing = sorted(set(PHASES) - names)
    if missing:
        raise RuntimeError(f"bench/world.py PHASES names steps that {PLAYBOOK} no longer has: {missing}")
    return names


def _phases(events, wall):
    """Attributes the time from each task's start to the next task's start to the phase of the playbook step
    that runs the task (the last task of playbooks/deploy.yml itself that started before it)."""
    steps = _playbook_steps()
    starts = [
        (_timestamp(e["_timestamp"]), e["task"]["name"], e["task"]["path"])
        for e in events
        if e.get("_event") in ("v2_playbook_on_task_start", "v2_playbook_on_handler_task_start")
    ]
    end = next((_timestamp(e["_timestamp"]) for e in events if e.get("_event") == "v2_playbook_on_stats"), None)
    phases = dict.fromkeys(PHASE_ORDER, 0.0)
    phase = "other"
    for (start, name, path), following in zip(starts, [s for s, _, _ in starts[1:]] + [end], strict=True):
        # A step of the playbook itself (Ansible reports the argument checks it adds there too).
        if Path(path.rsplit(":", 1)[0]) == PLAYBOOK and name in steps:
            phase = PHASES.get(name, "other")
        if following is None:
            continue
        phases[phase] += (following - start).total_seconds()
    # What the events do not cover (Ansible's start-up, reading the inventory and the vault) is "other".
    phases["other"] += max(0.0, wall - sum(phases.values()))
    return {name: round(seconds, 2) for name, seconds in phases.items()}


def _archive_bytes(events):
    """Bytes of the image archive copied to each host (0 for a host that was skipped: it had the image)."""
    received = dict.fromkeys(HOSTS, 0)
    for event in events:
        if event.get("_event") != "v2_runner_on_ok" or "ship-archive.yml" not in event["task"]["path"]:
            continue
        for host, result in event["hosts"].items():
            if result.get("action", "").endswith("copy") and result.get("changed"):
                received[host] = received.get(host, 0) + int(result.get("size", 0))
    return received


_ACCESS = re.compile(r'^(\S+) \S+ \S+ \[[^\]]*\] "GET /v2/\S+/blobs/sha256:[0-9a-f]+ HTTP/[0-9.]+" (\d{3}) (\d+)')


class RegistryMeter:
    """Counts what the registry served each host (the response sizes of its access log's blob GETs, by client
    address) and how much the controller pushed (the growth of the registry's storage) between start and stop."""

    def __init__(self):
        self.hosts = {address(host): host for host in HOSTS}

    def _log(self):
        """The registry's log, one list of lines per stream (their interleaving is not kept, so each stream has
        its own offset)."""
        out = common.docker("logs", REGISTRY)
        return out.stdout.splitlines(), out.stderr.splitlines()

    def _stored(self):
        out = common.docker("exec", REGISTRY, "du", "-sb", "/var/lib/docker-registry")
        return int(out.stdout.split()[0])

    def start(self):
        self.offsets = [len(lines) for lines in self._log()]
        self.stored = self._stored()
        return self

    def stop(self):
        served = dict.fromkeys(HOSTS, 0)
        blobs = dict.fromkeys(HOSTS, 0)
        for lines, offset in zip(self._log(), self.offsets, strict=True):
            for line in lines[offset:]:
                match = _ACCESS.match(line)
                if match and match.group(2) == "200" and match.group(1) in self.hosts:
                    served[self.hosts[match.group(1)]] += int(match.group(3))
                    blobs[self.hosts[match.group(1)]] += 1
        return {"served_bytes": served, "blobs": blobs, "pushed_bytes": max(0, self._stored() - self.stored)}


def host_file(host, name):
    """A file of the environment's directory on a host (current-release, previous-release, ...)."""
    return common.docker("exec", host, "cat", f"/srv/{PROJECT}/{ENVIRONMENT}/{name}").stdout.strip()


def check_release(release, hosts=HOSTS):
    """Checks that each host answers /healthz with the image just deployed (a release id is the image's tag and
    the configuration's digest)."""
    for host in hosts:
        out = common.docker("exec", host, "curl", "-s", "-H", f"Host: {host}", "http://127.0.0.1/healthz")
        answered = json.loads(out.stdout).get("release")
        if answered.rsplit("-", 1)[0] != release:
            raise RuntimeError(f"{host} answers release {answered}, expected {release}")

"""Running the project's playbooks from the tests, as a user would (from the repository's root)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, Load, docker, http

BIN = Path(sys.executable).parent


def ansible_playbook(playbook, *args, env=None, timeout=900):
    """Run ansible-playbook from the repository's root; returns the CompletedProcess, output merged."""
    environment = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", **(env or {})}
    return subprocess.run(
        [str(BIN / "ansible-playbook"), playbook, *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def extra_vars(**values):
    """-e with a JSON document, so that types survive (lists, numbers, booleans)."""
    return ["-e", json.dumps({f"django_dockerable_{key}": value for key, value in values.items()})]


def recap(output):
    """{'changed': n, 'failed': n, ...} summed over the PLAY RECAP lines."""
    totals = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        for token in line.split():
            if "=" in token:
                key, _, value = token.partition("=")
                if value.isdigit():
                    totals[key] = totals.get(key, 0) + int(value)
    return totals


def remove_environment(project, environment="local"):
    """Removes what a deploy of project's environment made in this machine's engine: its containers
    (releases, edge, database), its network and volumes, and its release and edge image tags; and
    its cron files (the scheduled commands, the renewal)."""
    prefix = f"{project}-{environment}"
    for job in ("scheduled", "renew"):
        Path(f"/etc/cron.d/{prefix}-{job}").unlink(missing_ok=True)
    names = docker("ps", "--all", "--format", "{{.Names}}", "--filter", f"name=^{prefix}-").stdout.split()
    if names:
        docker("rm", "--force", "--volumes", *names, check=False)
    docker("network", "rm", f"{prefix}_default", check=False)
    docker("volume", "rm", f"{prefix}-database", check=False)
    for repository in (f"{prefix}/release", f"{prefix}/edge"):
        tags = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository).stdout.split()
        for tag in tags:
            docker("image", "rm", tag, check=False)


class Deployment:
    """One project's `local` environment on this machine, deployed with the real inventory and
    playbooks (deploy.yml -l local), with only inventory variables set: a JSON file of extra vars.
    variables: more django_dockerable_* variables, named without the prefix (app_dir=...)."""

    def __init__(self, base, vars_dir, project, port, **variables):
        self.base = base
        self.env_dir = base / "local"
        self.vars_dir = vars_dir
        self.project = project
        self.port = port
        self.lock = Path(f"/run/lock/{project}-local.deploy.lock")
        self.variables = {
            "django_dockerable_base_dir": str(base),
            "django_dockerable_http_port": port,
            "django_dockerable_project": project,
            "django_dockerable_secret_key": secrets.token_urlsafe(50),
            "django_dockerable_health_timeout": 40,
            "ansible_python_interpreter": sys.executable,
            **{f"django_dockerable_{key}": value for key, value in variables.items()},
        }

    @property
    def container(self):
        """The serving release's container."""
        return f"{self.project}-local-{self.current()}"

    def load(self):
        return Load(f"http://127.0.0.1:{self.port}/healthz", "localhost")

    @property
    def secret_key(self):
        return self.variables["django_dockerable_secret_key"]

    def command(self, playbook="deploy.yml", *args, source=None, **overrides):
        """The ansible-playbook arguments of a run; overrides are django_dockerable_* variables."""
        variables = {**self.variables, **{f"django_dockerable_{key}": value for key, value in overrides.items()}}
        variables_file = self.vars_dir / f"vars-{secrets.token_hex(4)}.json"
        variables_file.write_text(json.dumps(variables))
        extra = ["-e", f"django_dockerable_app_dir={source}"] if source else []
        return [playbook, "-l", "local", "-e", f"@{variables_file}", *extra, *args]

    def run(self, playbook="deploy.yml", *args, source=None, **overrides):
        return ansible_playbook(*self.command(playbook, *args, source=source, **overrides))

    def get(self, path="/", host="localhost", **kwargs):
        return http("GET", f"http://127.0.0.1:{self.port}{path}", host, **kwargs)

    def current(self):
        return (self.env_dir / "current-release").read_text().strip()

    def previous(self):
        return (self.env_dir / "previous-release").read_text().strip()

    def releases(self):
        return sorted(path.name for path in (self.env_dir / "releases").iterdir())

    def audit(self):
        return (self.env_dir / "audit.log").read_text()

    def remove(self):
        remove_environment(self.project)

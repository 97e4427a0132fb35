"""Running the project's playbooks from the tests, as a user would (from the repository's root)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, docker

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

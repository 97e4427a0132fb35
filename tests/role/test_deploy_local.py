"""A real deploy of the `local` environment to this machine's Docker engine, with the real inventory
and playbooks: the site answers, a second run changes nothing, rollback.yml returns the previous
release, a release that fails its health check leaves the previous one serving, and the secret key
appears nowhere it should not (not even with -vvv --diff)."""

import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from ansible_helpers import ansible_playbook, recap

from helpers import ROOT, docker, http

PORT = 18000
PROJECT = "dd-test"
CONTAINER = f"{PROJECT}-local"


class Deployment:
    def __init__(self, base, variables_file, secret_key):
        self.base = base
        self.env_dir = base / "local"
        self.variables_file = variables_file
        self.secret_key = secret_key
        self.built = []

    def run(self, playbook="deploy.yml", *args, source=None):
        extra = ["-e", f"django_dockerable_source_dir={source}"] if source else []
        return ansible_playbook(playbook, "-l", "local", "-e", f"@{self.variables_file}", *extra, *args)

    def page(self):
        response = http("GET", f"http://127.0.0.1:{PORT}/", "localhost")
        assert response.status == 200
        return re.search(r'<code id="release">(\w+)</code>', response.data.decode())[1]

    def audit(self):
        return (self.env_dir / "audit.log").read_text()

    def source_copy(self, tmp_path, change):
        """A copy of the repository (as git sees it) with one change under app/: a new release."""
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        for name in files:
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if (ROOT / name).is_file():
                shutil.copy2(ROOT / name, target)
        change(tmp_path / "app")
        release = subprocess.run(
            [str(tmp_path / "scripts/release-id.sh")], capture_output=True, text=True, check=True
        ).stdout.strip()
        self.built.append(release)
        return tmp_path, release


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, image):
    base = tmp_path_factory.mktemp("deploy") / "srv"
    secret_key = secrets.token_urlsafe(50)
    variables_file = tmp_path_factory.mktemp("vars") / "vars.json"
    variables_file.write_text(
        json.dumps(
            {
                "django_dockerable_base_dir": str(base),
                "django_dockerable_http_port": PORT,
                "django_dockerable_project": PROJECT,
                "django_dockerable_secret_key": secret_key,
                "django_dockerable_health_timeout": 40,
                "ansible_python_interpreter": sys.executable,
            }
        )
    )
    deployment = Deployment(base, variables_file, secret_key)
    yield deployment
    docker("rm", "--force", CONTAINER, check=False)
    for release in deployment.built:
        docker("image", "rm", f"django-dockerable:{release}", check=False)


def test_first_deploy_serves_the_site_and_hides_the_secret(deployment, image):
    result = deployment.run("deploy.yml", "-vvv", "--diff")
    assert result.returncode == 0, result.stdout[-4000:]
    release = image.split(":")[-1]
    assert deployment.page() == release
    assert f"deploy release={release} previous=none result=ok" in deployment.audit()

    # The archive it shipped is gone from the controller (and the host).
    assert [path for path in Path(tempfile.gettempdir()).glob("django-dockerable-*") if path.is_dir()] == []
    assert not list(Path("/var/tmp").glob("django-dockerable-*.tar"))

    secret = deployment.secret_key
    assert secret not in result.stdout
    assert secret not in docker("inspect", CONTAINER).stdout
    assert secret not in docker("image", "inspect", image).stdout
    assert secret not in docker("history", "--no-trunc", image).stdout
    saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
    assert secret.encode() not in saved
    # ... and it is where it belongs, readable by the app's group only.
    secrets_file = deployment.env_dir / "settings/secrets.json"
    assert json.loads(secrets_file.read_text())["django_secret_key"] == secret
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o640"


def test_second_deploy_changes_nothing(deployment):
    result = deployment.run()
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)["changed"] == 0, result.stdout[-4000:]
    assert "Copy the archive to the host" not in result.stdout or "skipping" in result.stdout


def test_new_release_then_rollback(deployment, image, tmp_path):
    first = image.split(":")[-1]

    def restyle(app):
        css = app / "pages/static/pages/site.css"
        css.write_text(css.read_text() + "footer { color: #555; }\n")

    source, second = deployment.source_copy(tmp_path, restyle)
    result = deployment.run(source=source)
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.page() == second
    assert (deployment.env_dir / "current-release").read_text().strip() == second
    assert (deployment.env_dir / "previous-release").read_text().strip() == first

    result = deployment.run("playbooks/rollback.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.page() == first
    assert f"rollback release={first} previous={second} result=ok" in deployment.audit()
    # The newer release is still on the host, so it can be rolled forward by name.
    result = deployment.run("playbooks/rollback.yml", "-e", f"django_dockerable_rollback_to={second}")
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.page() == second
    result = deployment.run("playbooks/rollback.yml")
    assert deployment.page() == first


def test_failing_release_leaves_the_previous_one_serving(deployment, image, tmp_path):
    first = image.split(":")[-1]
    assert deployment.page() == first

    def break_the_app(app):
        (app / "project/wsgi.py").write_text("raise ImportError('this release is broken')\n")

    source, broken = deployment.source_copy(tmp_path, break_the_app)
    result = deployment.run(source=source)
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert f"release {broken} did not become healthy" in text
    assert f"Release {first} is serving again." in text
    assert deployment.page() == first
    audit = deployment.audit()
    assert f"deploy release={broken} previous={first} result=failed" in audit
    assert f"rollback release={first} from={broken} result=ok" in audit
    assert not (deployment.env_dir / "deploy.lock").exists()
    assert (deployment.env_dir / "current-release").read_text().strip() == first


def test_old_and_failed_releases_are_pruned(deployment, image):
    current = image.split(":")[-1]
    previous = (deployment.env_dir / "previous-release").read_text().strip()
    broken = deployment.built[-1]
    releases = deployment.env_dir / "releases"
    assert not (releases / broken).exists()  # a failed release is not kept for rollback
    assert docker("image", "inspect", f"django-dockerable:{broken}", check=False).returncode == 0

    result = deployment.run("deploy.yml", "-e", "django_dockerable_keep_releases=2")

    assert result.returncode == 0, result.stdout[-4000:]
    assert sorted(path.name for path in releases.iterdir()) == sorted([current, previous])
    assert docker("image", "inspect", f"django-dockerable:{broken}", check=False).returncode != 0
    for kept in (current, previous):
        assert docker("image", "inspect", f"django-dockerable:{kept}", check=False).returncode == 0
    assert deployment.page() == current


def test_an_interrupted_deploys_lock_is_reported_then_broken(deployment):
    lock = deployment.env_dir / "deploy.lock"
    lock.write_text("taken 2026-01-01T00:00:00Z by someone@elsewhere for release abc\n")
    result = deployment.run()
    assert result.returncode != 0
    assert "the local environment is locked (taken 2026-01-01T00:00:00Z" in " ".join(result.stdout.split())
    result = deployment.run("deploy.yml", "-e", "django_dockerable_break_lock=true")
    assert result.returncode == 0, result.stdout[-4000:]
    assert not lock.exists()
    assert recap(result.stdout)["changed"] == 0

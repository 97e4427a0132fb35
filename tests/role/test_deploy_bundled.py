"""A real deploy of a single-host environment with the bundled PostgreSQL, to this machine's Docker
engine: the site answers and writes to that database, the password stays out of `docker inspect`
and of the output, a second run changes nothing, and the data outlives the containers."""

import json
import re
import secrets
import sys

import pytest
from ansible_helpers import ansible_playbook, recap, remove_environment

from helpers import docker, http

PORT = 18001
PROJECT = "dd-bundled"
DATABASE = f"{PROJECT}-local-db"


def cleanup():
    remove_environment(PROJECT)


def serving():
    """The container of the release that serves."""
    (name,) = docker("ps", "--format", "{{.Names}}", "--filter", "label=com.docker.compose.service=app",
                     "--filter", f"name=^{PROJECT}-local-").stdout.split()  # fmt: skip
    return name


@pytest.fixture(scope="module")
def bundled(tmp_path_factory, image, postgres_image):
    cleanup()
    password = secrets.token_urlsafe(24)
    variables_file = tmp_path_factory.mktemp("bundled") / "vars.json"
    variables_file.write_text(
        json.dumps(
            {
                "django_dockerable_base_dir": str(tmp_path_factory.mktemp("srv")),
                "django_dockerable_http_port": PORT,
                "django_dockerable_project": PROJECT,
                "django_dockerable_secret_key": secrets.token_urlsafe(50),
                "django_dockerable_health_timeout": 60,
                "django_dockerable_database_engine": "postgresql",
                "django_dockerable_database_bundled": True,
                "django_dockerable_database_image": postgres_image,
                "django_dockerable_database_name": "site",
                "django_dockerable_database_user": "site",
                "django_dockerable_database_password": password,
                "ansible_python_interpreter": sys.executable,
            }
        )
    )

    def deploy(*args):
        return ansible_playbook("deploy.yml", "-l", "local", "-e", f"@{variables_file}", *args)

    yield deploy, password
    cleanup()


def visits():
    result = docker("exec", DATABASE, "psql", "-U", "site", "-d", "site", "-tAc", "SELECT count(*) FROM pages_visit")
    return int(result.stdout)


def test_first_deploy_serves_from_the_bundled_database(bundled, image):
    deploy, password = bundled
    result = deploy("--diff")
    assert result.returncode == 0, result.stdout[-4000:]
    response = http("GET", f"http://127.0.0.1:{PORT}/", "localhost")
    assert response.status == 200
    # The release: the image, and the configuration's digest.
    release = re.search(r'<code id="release">([\w-]+)</code>', response.data.decode())[1]
    assert release.startswith(image.split(":")[-1] + "-")
    assert visits() >= 1  # the page's visit went to the bundled PostgreSQL
    health = http("GET", f"http://127.0.0.1:{PORT}/healthz", "localhost")
    assert health.status == 200
    # The password reached PostgreSQL as a file: it is in no container's configuration, nor the output.
    for name in (DATABASE, serving(), f"{PROJECT}-local-edge"):
        assert password not in docker("inspect", name).stdout
    assert "POSTGRES_PASSWORD_FILE=/run/secrets/database_password" in docker("inspect", DATABASE).stdout
    assert password not in result.stdout
    # Not published on the host.
    assert docker("port", DATABASE).stdout.strip() == ""


def test_second_deploy_changes_nothing(bundled):
    deploy, _ = bundled
    result = deploy()
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)["changed"] == 0, result.stdout[-4000:]


def test_a_switch_does_not_restart_the_database(bundled):
    """A new release (a configuration change) switches the app; the database beside the edge runs on."""
    deploy, _ = bundled
    started = docker("inspect", "-f", "{{.State.StartedAt}}", DATABASE).stdout
    before = serving()
    result = deploy("-e", '{"django_dockerable_extra_allowed_hosts": ["other.test"]}')
    assert result.returncode == 0, result.stdout[-4000:]
    assert serving() != before
    assert http("GET", f"http://127.0.0.1:{PORT}/", "other.test").status == 200
    assert docker("inspect", "-f", "{{.State.StartedAt}}", DATABASE).stdout == started


def test_the_data_outlives_the_containers(bundled):
    deploy, _ = bundled
    before = visits()
    docker("rm", "--force", serving(), DATABASE)
    result = deploy()
    assert result.returncode == 0, result.stdout[-4000:]
    assert visits() >= before
    assert http("GET", f"http://127.0.0.1:{PORT}/", "localhost").status == 200
    assert visits() > before

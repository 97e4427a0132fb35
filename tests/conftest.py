"""Fixtures shared by every test: the image (built once per session), a Docker network, containers
that are removed afterwards, environment settings modules, and a real PostgreSQL."""

import json
import os
import secrets
import subprocess
import time
import uuid

import pytest

from helpers import ROOT, container_ip, docker, wait_until_serving

NETWORK = "dockerable-tests"
APP_GID = 10001  # the image's django group (Dockerfile ARG APP_GID)


# Figures the tests measure without asserting them (image size, build times, ...): shown at the end.
MEASUREMENTS = []


def measure(line):
    MEASUREMENTS.append(line)


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section("measurements (printed, not asserted)")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


def pytest_report_header(config):
    return [f"docker: {docker('version', '-f', '{{.Server.Version}}', check=False).stdout.strip()}"]


def _build():
    started = time.monotonic()
    result = subprocess.run([str(ROOT / "scripts/build-image.sh")], capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        pytest.fail(f"image build failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)["image"], time.monotonic() - started


@pytest.fixture(scope="session")
def image():
    """The image, built from app/ as a deploy builds it (nothing is built when its tag exists; never
    with --no-cache, which would leave the build cache two sets of layers for the same steps, and
    later builds, such as the Molecule scenarios' code-only change, a mix of both). Prints (does not
    assert) its size and the build's time; the image benchmark measures cold builds."""
    reference, seconds = _build()
    size = int(docker("image", "inspect", "-f", "{{.Size}}", reference).stdout)
    measure(f"image {reference}: size {size / 1e6:.0f} MB; built (or found) in {seconds:.0f} s")
    return reference


@pytest.fixture(scope="session")
def base_image(image):
    """The base the image was built on (pulled, or built from Debian's archive)."""
    for candidate in ("debian:trixie-slim", "django-dockerable-base:trixie"):
        if docker("image", "inspect", candidate, check=False).returncode == 0:
            return candidate
    pytest.fail("no base image found after the build")


@pytest.fixture(scope="session")
def network():
    docker("network", "rm", NETWORK, check=False)
    docker("network", "create", NETWORK)
    yield NETWORK
    docker("network", "rm", NETWORK, check=False)


class Containers:
    """Starts containers on the test network and removes them all at the end of a test."""

    def __init__(self, network):
        self.network = network
        self.names = []

    def run(self, image, *options, command=(), env=None, name=None):
        """docker run --detach [options] image [command]; returns the container's name."""
        name = name or f"dockerable-test-{uuid.uuid4().hex[:8]}"
        arguments = ["run", "--detach", "--name", name, "--network", self.network]
        for key, value in (env or {}).items():
            arguments += ["--env", f"{key}={value}"]
        self.names.append(name)
        docker(*arguments, *options, image, *command)
        return name

    def address(self, name):
        return container_ip(name, self.network)

    def remove_all(self):
        for name in self.names:
            docker("rm", "--force", "--volumes", name, check=False)


@pytest.fixture
def containers(network):
    manager = Containers(network)
    yield manager
    manager.remove_all()


def write_environment(directory, name, settings, secret_values):
    """An environment's settings package as the role installs it: settings.py and secrets.json
    (mode 0640, group = the image's django group) in a directory mounted where the role mounts a
    release's (see mount). Returns (host directory, DJANGO_SETTINGS_MODULE)."""
    env_dir = directory / name
    env_dir.mkdir(parents=True)
    env_dir.chmod(0o755)
    (env_dir / "__init__.py").write_text("")
    (env_dir / "settings.py").write_text(settings)
    secrets_file = env_dir / "secrets.json"
    secrets_file.write_text(json.dumps(secret_values))
    os.chown(secrets_file, 0, APP_GID)
    secrets_file.chmod(0o640)
    return env_dir, SETTINGS_MODULE


# Where the role mounts a release's settings package in the image, and its module's name.
SETTINGS_PATH = "/opt/dockerable/python/dockerable_release"
SETTINGS_MODULE = "dockerable_release.settings"

SETTINGS_HEAD = """\
from pathlib import Path

from dockerable.logging import LOGGING
from project.settings.base import *  # noqa: F403

SECRETS = read_secrets(Path(__file__).parent, "django_secret_key")  # noqa: F405
SECRET_KEY = SECRETS["django_secret_key"]
"""


def secret_key():
    return secrets.token_urlsafe(50)


@pytest.fixture
def sqlite_env(tmp_path):
    """A minimal environment on SQLite; the site is called site.test."""
    return write_environment(
        tmp_path,
        "sqlitetest",
        SETTINGS_HEAD + 'ALLOWED_HOSTS = ["site.test"]\n',
        {"django_secret_key": secret_key()},
    )


def mount(env_dir, name=None):
    """docker run's options that mount an environment's settings package (name: unused, kept for
    readability at the call sites)."""
    return ["--volume", f"{env_dir}:{SETTINGS_PATH}:ro"]


@pytest.fixture
def site(image, containers, sqlite_env):
    """A running container of the image on SQLite (migrated), serving site.test over HTTP."""
    env_dir, module = sqlite_env
    name = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        env={"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test"},
    )
    address = containers.address(name)
    wait_until_serving(name, address, "site.test")
    docker("exec", "--user", "django", name, "python", "manage.py", "migrate", "--noinput")
    return name, address


@pytest.fixture(scope="session")
def postgres_image(base_image):
    tag = "django-dockerable-postgres:test"
    docker(
        "buildx",
        "build",
        "--quiet",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "--tag",
        tag,
        str(ROOT / "tests/images/postgres"),
    )
    return tag


@pytest.fixture(scope="session")
def postgres(postgres_image, network):
    """A real PostgreSQL server on the test network: (host name, user, password, database)."""
    name = "dockerable-test-postgres"
    password = secrets.token_urlsafe(24)
    docker("rm", "--force", "--volumes", name, check=False)
    docker(
        "run",
        "--detach",
        "--name",
        name,
        "--network",
        network,
        "--network-alias",
        "db.tests.test",
        "--env",
        f"POSTGRES_PASSWORD={password}",
        "--env",
        "POSTGRES_USER=app",
        "--env",
        "POSTGRES_DB=app",
        postgres_image,
    )
    for _ in range(120):
        if docker("exec", name, "pg_isready", "-q", "-h", "127.0.0.1", "-U", "app", check=False).returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("PostgreSQL did not start:\n" + docker("logs", name, check=False).stderr)
    yield "db.tests.test", "app", password, "app"
    docker("rm", "--force", "--volumes", name, check=False)


@pytest.fixture(scope="session")
def pebble(base_image, network, tmp_path_factory):
    """Pebble, Let's Encrypt's test server (molecule/images/pebble), on the test network as
    acme.pebble.test: (its directory URL, a file with the CA of its API's certificate)."""
    tag = "dockerable-test-pebble:latest"
    name = "acme.pebble.test"
    docker(
        "buildx", "build", "--quiet", "--build-arg", f"BASE_IMAGE={base_image}", "--build-arg", f"PEBBLE_NAME={name}",
        "--file", str(ROOT / "molecule/images/pebble/Dockerfile"), "--tag", tag, str(ROOT / "molecule/images"),
    )  # fmt: skip
    docker("rm", "--force", name, check=False)
    docker("run", "--detach", "--name", name, "--network", network, "--network-alias", name, tag)
    ca = tmp_path_factory.mktemp("pebble") / "ca.pem"
    ca.write_text(docker("exec", name, "cat", "/etc/pebble/ca.pem").stdout)
    ca.chmod(0o644)
    yield f"https://{name}:14000/dir", ca
    docker("rm", "--force", name, check=False)

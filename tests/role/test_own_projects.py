"""Projects that nobody here wrote, deployed by the role to this machine's Docker engine with the real
inventory and playbooks, with only inventory variables set (the kit's contract: the project's code
needs no change). The projects are made by the real tools, offline, and never edited:

- `wagtail start mysite` (a settings package, mysite.settings.production with ManifestStaticFilesStorage;
  its own requirements.txt, Dockerfile and .dockerignore): its pages, its admin, hashed static files,
  an uploaded image and its rendition served by nginx, migrations applied once, a re-run that changes
  nothing, a code change that is a new release (uploads kept), and rollback;
- `django-admin startproject mysite` (a flat settings module; the one file the test adds is its
  requirements.txt): Django answers, the admin and its static files are served, /healthz is the kit's,
  and what a developer's checkout holds (.env, databases, virtualenvs, node_modules, .git, local
  settings, uploads) never reaches the image;
- a 12-factor project (startproject plus a settings module reading DJANGO_SECRET_KEY and DATABASE_URL
  from os.environ): the secret environment reaches its settings and nothing else (not Ansible's
  output, not `docker inspect`, not the Compose file, not a world-readable file, not the image);
- refusals before any change: a settings module that does not exist, Django 4.2 on Python 3.13, a
  directory without manage.py.

One environment per project, deployed once for the module, the projects at the same time (the
`deployed` fixture); each test starts from whatever release serves and leaves the project's first
release serving, so any of them runs alone. Everything is removed at the end: the environments, and
the images built under this module's image name."""

import json
import re
import secrets
import shutil
import stat
import subprocess
import threading

import pytest
from ansible_helpers import BIN, Deployment, recap

from helpers import ROOT, docker

WAGTAIL_PORT = 18010
STARTPROJECT_PORT = 18011
TWELVE_FACTOR_PORT = 18012
REFUSED_PORT = 18013
# Other tests prune the django-dockerable images: these projects' images have a name of their own.
IMAGE_NAME = "dd-own-projects"


def controller_django():
    """The Django version that the controller's tools (wagtail's dependency) installed."""
    return subprocess.run(
        [str(BIN / "django-admin"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def startproject(directory, requirements=None):
    """`django-admin startproject mysite` in a new directory, and the one file that the tests add to
    it, since startproject makes none: a requirements.txt (default: the Django that made the files)."""
    directory.mkdir(parents=True)
    subprocess.run([str(BIN / "django-admin"), "startproject", "mysite", str(directory)], check=True)
    (directory / "requirements.txt").write_text(requirements or f"Django=={controller_django()}\n")
    return directory


def text(result):
    return " ".join(result.stdout.split())


def task_outcome(output, name):
    """How a role task ended in a run's output ("ok", "changed", "skipping", ...), or None if it did not run."""
    found = re.search(rf"TASK \[django_dockerable : {re.escape(name)}\][^\n]*\n(\w+):", output)
    return found and found[1]


class OwnProject(Deployment):
    """A project's `local` environment, with what the tests read from the serving release."""

    first_release = None  # the release of the module's first deploy, which every test leaves serving

    @property
    def image(self):
        """The image that the serving release runs, as the build named it."""
        return f"{IMAGE_NAME}:{self.current().split('-')[0]}"

    def healthz(self):
        response = self.get("/healthz")
        assert response.status == 200, response.data[:500]
        return json.loads(response.data)

    def serving(self):
        """Checks that a healthy release serves (whichever the tests before left), and returns self."""
        health = self.healthz()
        assert health["status"] == "ok" and health["release"] == self.current(), health
        assert not self.lock.exists()
        return self

    def restore(self):
        """Deploys the project's first release again if another serves (tests leave the first serving)."""
        if self.current() != self.first_release:
            result = self.run()
            assert result.returncode == 0, result.stdout[-4000:]
        assert self.current() == self.first_release

    def manage(self, *args):
        """manage.py in the serving release's container, as the app's user; returns its stdout."""
        return docker("exec", "--user", "django", self.container, "python", "manage.py", *args).stdout

    def files(self):
        """Every path under /app in the serving image, relative to /app."""
        listing = docker("run", "--rm", "--entrypoint", "find", self.image, "/app").stdout.split()
        return {path.removeprefix("/app/") for path in listing}


@pytest.fixture(scope="module", autouse=True)
def images():
    """Removes the images built under this module's image name, after every environment is gone."""
    yield
    tags = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_NAME).stdout.split()
    for tag in tags:
        docker("image", "rm", tag, check=False)


def environment(request, tmp_path_factory, project, port, app_dir, **variables):
    """A project's `local` environment (not deployed yet), removed at the end of the module."""
    deployment = OwnProject(
        tmp_path_factory.mktemp(project) / "srv", tmp_path_factory.mktemp("vars"), project, port,
        app_dir=str(app_dir), image_name=IMAGE_NAME, health_timeout=60, **variables,
    )  # fmt: skip
    request.addfinalizer(deployment.remove)
    return deployment


def first_deploy(deployment, args):
    deployment.first_deploy = deployment.run("deploy.yml", *args)
    if deployment.first_deploy.returncode == 0:
        deployment.first_release = deployment.current()


@pytest.fixture(scope="module")
def deployed(request, tmp_path_factory):
    """{fixture name: environment} of the projects that the selected tests use, each deployed once,
    all at the same time: a deploy spends most of its time waiting for Docker and for Ansible's round
    trips (here two deploys took 83 s side by side, 134 s one after the other)."""
    used = {
        name
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        for name in item.fixturenames
    }
    # The base image first (made from Debian's archive where no registry answers), not by each build.
    subprocess.run([str(ROOT / "scripts/base-image.sh")], check=True, capture_output=True, text=True)
    environments = {name: make(request, tmp_path_factory) for name, make in ENVIRONMENTS.items() if name in used}
    threads = [threading.Thread(target=first_deploy, args=made) for made in environments.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {name: deployment for name, (deployment, _) in environments.items()}


def first_deployed(deployment):
    """The environment, after a first deploy that must have succeeded."""
    result = getattr(deployment, "first_deploy", None)
    assert result is not None, "the first deploy did not finish"
    assert result.returncode == 0, result.stdout[-6000:]
    return deployment


# --- refusals, before any change ------------------------------------------------------------------
@pytest.fixture(scope="module")
def startproject_dir(tmp_path_factory):
    return startproject(tmp_path_factory.mktemp("startproject") / "mysite")


@pytest.fixture(scope="module")
def refused(request, tmp_path_factory, startproject_dir):
    """An environment that each refusal test tries to deploy; none of them may create anything."""
    return environment(
        request, tmp_path_factory, "dd-own-refused", REFUSED_PORT, startproject_dir,
        settings_module="mysite.settings", wsgi_application="mysite.wsgi:application",
    )  # fmt: skip


def assert_nothing_deployed(deployment):
    assert not deployment.env_dir.exists(), sorted(deployment.env_dir.rglob("*"))
    assert docker("ps", "--all", "-q", "--filter", f"name=^{deployment.project}-local-").stdout.strip() == ""
    assert not deployment.lock.exists()


def test_a_settings_module_that_does_not_exist_is_refused_at_the_build(refused):
    result = refused.run(settings_module="mysite.nosuch")
    assert result.returncode != 0
    assert (
        "django_dockerable_settings_module: mysite.nosuch does not import in the image:"
        " ModuleNotFoundError: No module named 'mysite.nosuch'" in text(result)
    ), result.stdout[-4000:]
    assert "nothing was deployed" in text(result)
    assert_nothing_deployed(refused)


def test_django_4_2_on_python_3_13_is_refused_naming_the_base_image(refused, tmp_path):
    old = startproject(tmp_path / "old", "Django~=4.2.0\n")
    result = refused.run(source=old)
    assert result.returncode != 0
    assert re.search(
        r"django_dockerable_base_image: Django 4\.2\.\d+ \(from the project's requirements\) supports Python"
        r" 3\.8 to 3\.12, and this image's Python is 3\.13: choose a base image",
        text(result),
    ), result.stdout[-4000:]
    assert_nothing_deployed(refused)


def test_requirements_that_include_a_file_outside_the_project_are_refused_before_the_build(refused, tmp_path):
    project = tmp_path / "checkout/mysite"
    shutil.copytree(refused.variables["django_dockerable_app_dir"], project)
    (tmp_path / "checkout/common.txt").write_text("Django\n")
    (project / "requirements.txt").write_text("-r ../common.txt\n")
    result = refused.run(source=project)
    assert result.returncode != 0
    assert (
        "nothing was deployed. Its last lines: build-plan: django_dockerable_requirements:"
        f" {tmp_path}/checkout/common.txt (included by the requirements) is outside the project ({project})"
        in text(result)
    ), result.stdout[-4000:]
    assert "TASK [django_dockerable : Build the image with docker buildx]" not in result.stdout
    assert_nothing_deployed(refused)


def test_a_directory_without_manage_py_is_refused_by_preflight(refused, tmp_path):
    # A checkout whose Django project is in a subdirectory, named instead of that subdirectory.
    checkout = tmp_path / "checkout"
    shutil.copytree(refused.variables["django_dockerable_app_dir"], checkout / "src")
    shutil.copy(checkout / "src/requirements.txt", checkout / "requirements.txt")
    result = refused.run(source=checkout)
    assert result.returncode != 0
    assert (
        f"django_dockerable_app_dir is '{checkout}' ({checkout} on the controller): it must be your Django"
        " project's directory, holding manage.py (django_dockerable_manage_py: missing)" in text(result)
    ), result.stdout[-4000:]
    assert "TASK [django_dockerable : Build the image with docker buildx]" not in result.stdout
    assert_nothing_deployed(refused)


# --- wagtail start ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wagtail_dir(tmp_path_factory):
    """`wagtail start mysite`, as it is."""
    directory = tmp_path_factory.mktemp("wagtail") / "mysite"
    directory.mkdir()
    subprocess.run([str(BIN / "wagtail"), "start", "mysite", str(directory)], check=True, capture_output=True)
    return directory


def wagtail_environment(request, tmp_path_factory):
    # Pillow's wheels bring their own libjpeg, zlib and libwebp: no runtime packages (the JPEG
    # rendition below shows it).
    deployment = environment(
        request, tmp_path_factory, "dd-wagtail", WAGTAIL_PORT, request.getfixturevalue("wagtail_dir"),
        settings_module="mysite.settings.production", wsgi_application="mysite.wsgi:application",
    )  # fmt: skip
    return deployment, ()


@pytest.fixture(scope="module")
def wagtail_site(deployed):
    return first_deployed(deployed["wagtail_site"])


@pytest.fixture
def wagtail(wagtail_site):
    return wagtail_site.serving()


# Run in the serving container as the app's user: an image uploaded as the admin would, and a
# rendition of it in another format; prints their URLs.
MAKE_IMAGE = """
import io, json
from PIL import Image as Picture
from django.core.files.images import ImageFile
from wagtail.images import get_image_model

buffer = io.BytesIO()
Picture.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "PNG")
image = get_image_model().objects.create(title="probe", file=ImageFile(buffer, name="probe.png"))
rendition = image.get_rendition("fill-32x24|format-jpeg")
print(json.dumps({"original": image.file.url, "rendition": rendition.url}))
"""


def upload_image(deployment):
    """An uploaded image and its rendition: their URLs, after checking that the site serves them."""
    output = deployment.manage("shell", "-c", MAKE_IMAGE)
    urls = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    assert urls["original"].startswith("/media/original_images/"), urls
    assert urls["rendition"].startswith("/media/images/") and urls["rendition"].endswith(".jpg"), urls
    assert_image(deployment, urls["original"], "image/png", b"\x89PNG")
    assert_image(deployment, urls["rendition"], "image/jpeg", b"\xff\xd8\xff")
    return urls


def assert_image(deployment, url, content_type, magic):
    response = deployment.get(url)
    assert response.status == 200, (url, response.status)
    assert response.headers["Content-Type"] == content_type and response.data.startswith(magic), url


def stylesheet(page):
    """The URL of the site's stylesheet, as the page links it (hashed by the manifest storage)."""
    return re.search(r'href="(/static/css/mysite\.[0-9a-f]{12}\.css)"', page)[1]


def test_wagtail_serves_its_home_page_and_admin_after_migrating_once(wagtail):
    # The home page that wagtail's migrations create.
    home = wagtail.get("/")
    assert home.status == 200
    assert "Welcome to your new Wagtail site!" in home.data.decode()
    login = wagtail.get("/admin/login/")
    assert login.status == 200 and 'name="password"' in login.data.decode()
    assert wagtail.get("/admin/").status == 302  # not logged in
    # The first deploy applied the migrations; the database has them all.
    assert task_outcome(wagtail.first_deploy.stdout, "Apply the migrations") == "changed"
    assert "[ ]" not in wagtail.manage("showmigrations", "--list")


def test_wagtail_static_files_are_hashed_by_its_manifest_storage(wagtail):
    manifest = json.loads(docker("exec", wagtail.container, "cat", "/var/www/static/staticfiles.json").stdout)
    hashed = manifest["paths"]["wagtailadmin/css/core.css"]
    assert re.fullmatch(r"wagtailadmin/css/core\.[0-9a-f]{12}\.css", hashed), hashed
    response = wagtail.get(f"/static/{hashed}")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/css")
    # The running site found the manifest that the build wrote: its pages link the hashed names.
    assert f"/static/{hashed}" in wagtail.get("/admin/login/").data.decode()
    assert wagtail.get(stylesheet(wagtail.get("/").data.decode())).status == 200


def test_wagtail_serves_an_uploaded_image_and_its_rendition(wagtail):
    urls = upload_image(wagtail)
    # On the host, in the environment's uploads, which every release shares.
    assert (wagtail.env_dir / "media" / urls["original"].removeprefix("/media/")).is_file()
    assert oct((wagtail.env_dir / "media").stat().st_mode & 0o777) == "0o755"


def test_wagtail_second_deploy_changes_nothing(wagtail):
    wagtail.restore()
    result = wagtail.run()
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)["changed"] == 0, result.stdout[-4000:]
    assert wagtail.current() == wagtail.first_release
    assert task_outcome(result.stdout, "Apply the migrations") in (None, "skipping")


def test_wagtail_code_change_is_a_new_release_that_keeps_uploads_and_rolls_back(wagtail, wagtail_dir, tmp_path):
    wagtail.restore()
    first = wagtail.current()
    urls = upload_image(wagtail)
    old_css = stylesheet(wagtail.get("/").data.decode())

    changed = tmp_path / "mysite"
    shutil.copytree(wagtail_dir, changed)
    css = changed / "mysite/static/css/mysite.css"
    css.write_text(css.read_text() + "body { color: #123456; }\n")
    result = wagtail.run(source=changed)
    assert result.returncode == 0, result.stdout[-4000:]
    second = wagtail.current()
    assert second.split("-")[0] != first.split("-")[0]  # a new image
    assert wagtail.previous() == first
    assert f"deploy release={second} previous={first} changed=image result=ok" in wagtail.audit()
    # Its migrations were checked, and there were none to apply.
    assert task_outcome(result.stdout, "Check for unapplied migrations") == "ok"
    assert task_outcome(result.stdout, "Apply the migrations") == "skipping"
    new_css = stylesheet(wagtail.get("/").data.decode())
    assert new_css != old_css
    assert "#123456" in wagtail.get(new_css).data.decode()
    # The uploads are the environment's, not the release's.
    assert_image(wagtail, urls["original"], "image/png", b"\x89PNG")
    assert_image(wagtail, urls["rendition"], "image/jpeg", b"\xff\xd8\xff")

    result = wagtail.run("playbooks/rollback.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert wagtail.serving().current() == first
    assert stylesheet(wagtail.get("/").data.decode()) == old_css
    assert f"rollback release={first} previous={second} changed=image result=ok" in wagtail.audit()
    assert_image(wagtail, urls["original"], "image/png", b"\x89PNG")
    assert_image(wagtail, urls["rendition"], "image/jpeg", b"\xff\xd8\xff")


# --- django-admin startproject ---------------------------------------------------------------------
# What a developer's checkout may hold beside the project, which must never reach the image.
PLANTED = {
    ".env": "DJANGO_SECRET_KEY=planted\n",
    ".env.production": "DATABASE_URL=postgres://planted\n",
    "db.sqlite3": "planted",
    "node_modules/x/index.js": "module.exports = 'planted';\n",
    ".venv/pyvenv.cfg": "home = /usr/bin\n",
    ".venv/lib/python3.13/site-packages/planted.py": "",
    "venv2/pyvenv.cfg": "home = /usr/bin\n",  # a virtualenv under any name
    "venv2/lib/python3.13/site-packages/planted.py": "",
    "mysite/local_settings.py": "SECRET_KEY = 'planted'\n",
    ".git/config": "[core]\n\trepositoryformatversion = 0\n",
    "media/upload.txt": "planted\n",
}


def startproject_environment(request, tmp_path_factory):
    directory = startproject(tmp_path_factory.mktemp("planted") / "mysite")
    # Planted before the first build.
    for name, content in PLANTED.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(content)
    deployment = environment(
        request, tmp_path_factory, "dd-startproject", STARTPROJECT_PORT, directory,
        settings_module="mysite.settings", wsgi_application="mysite.wsgi:application",
    )  # fmt: skip
    return deployment, ()


@pytest.fixture(scope="module")
def startproject_site(deployed):
    return first_deployed(deployed["startproject_site"])


@pytest.fixture
def plain_django(startproject_site):
    return startproject_site.serving()


def test_startproject_is_served_by_django(plain_django):
    # startproject has no home page: Django's own 404 (DEBUG off), not nginx's.
    home = plain_django.get("/")
    assert home.status == 404
    assert b"The requested resource was not found on this server." in home.data and b"nginx" not in home.data
    login = plain_django.get("/admin/login/")
    assert login.status == 200 and b"Django administration" in login.data
    css = plain_django.get("/static/admin/css/base.css")
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    health = plain_django.healthz()
    assert health == {**health, "status": "ok", "release": plain_django.current(), "database": True}


def test_startproject_checkout_files_never_reach_the_image(plain_django):
    files = plain_django.files()
    assert {"manage.py", "mysite/settings.py", "mysite/urls.py", "requirements.txt"} <= files
    leaked = [path for path in files if any(path == name or path.startswith(name + "/") for name in PLANTED)]
    leaked += [path for path in files if path.split("/")[0] in (".venv", "venv2", "node_modules", ".git")]
    assert leaked == []


# --- a 12-factor project ---------------------------------------------------------------------------
# Its settings read their secrets from the environment, with no default, and the database from
# DATABASE_URL (dj-database-url, from PyPI).
SETTINGS_ENV = '''"""Settings from the environment (12-factor)."""

import os

import dj_database_url

from .settings import *  # noqa: F403

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"])}
'''
DATABASE_URL = "sqlite:////app/data/env.sqlite3"


def twelve_factor_environment(request, tmp_path_factory):
    directory = startproject(
        tmp_path_factory.mktemp("twelve") / "mysite", f"Django=={controller_django()}\ndj-database-url==3.1.2\n"
    )
    (directory / "mysite/settings_env.py").write_text(SETTINGS_ENV)
    deployment = environment(
        request, tmp_path_factory, "dd-12factor", TWELVE_FACTOR_PORT, directory,
        settings_module="mysite.settings_env", wsgi_application="mysite.wsgi:application",
        database_engine="project",
        # The settings read both at import, when the build collects the static files: placeholders.
        build_env={"DJANGO_SECRET_KEY": "build-placeholder", "DATABASE_URL": "sqlite:////tmp/build.sqlite3"},
        secret_env={"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": DATABASE_URL},
        env={"SOME_PLAIN": f"plain-{secrets.token_hex(8)}"},
    )  # fmt: skip
    return deployment, ("-vvv", "--diff")


@pytest.fixture(scope="module")
def twelve_factor_site(deployed):
    return first_deployed(deployed["twelve_factor_site"])


@pytest.fixture
def twelve_factor(twelve_factor_site):
    return twelve_factor_site.serving()


def test_twelve_factor_settings_get_the_secret_environment_and_nothing_else_does(twelve_factor):
    secret_env = twelve_factor.variables["django_dockerable_secret_env"]
    plain = twelve_factor.variables["django_dockerable_env"]["SOME_PLAIN"]
    # The settings read DJANGO_SECRET_KEY with no default: the site serves, so they had it.
    assert twelve_factor.get("/admin/login/").status == 200
    assert twelve_factor.healthz()["database"] is True
    # The project's DATABASES (from DATABASE_URL) were used, not the role's SQLite file.
    docker("exec", twelve_factor.container, "test", "-s", "/app/data/env.sqlite3")
    assert not (twelve_factor.env_dir / "data/db.sqlite3").exists()

    release_dir = twelve_factor.env_dir / "releases" / twelve_factor.current()
    secrets_file = release_dir / "settings/secrets.json"
    assert json.loads(secrets_file.read_text())["environment"] == secret_env
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o640"

    containers = docker("ps", "--all", "--format", "{{.Names}}", "--filter", "name=^dd-12factor-local-").stdout.split()
    assert f"dd-12factor-local-{twelve_factor.current()}" in containers and "dd-12factor-local-edge" in containers
    inspected = docker("inspect", *containers).stdout
    release_image = f"dd-12factor-local/release:{twelve_factor.current()}"
    image = docker("image", "inspect", twelve_factor.image, release_image).stdout
    history = docker("history", "--no-trunc", twelve_factor.image).stdout
    compose = (release_dir / "docker-compose.yml").read_text()
    readable = {
        path: path.read_bytes()
        for path in twelve_factor.base.rglob("*")
        if path.is_file() and not path.is_symlink() and path.stat().st_mode & stat.S_IROTH
    }
    assert readable  # the walk found the release's public files
    for name, value in secret_env.items():
        assert value not in twelve_factor.first_deploy.stdout, name
        assert value not in inspected, name
        assert value not in image, name
        assert value not in history, name
        assert value not in compose, name
        assert [path for path, content in readable.items() if value.encode() in content] == [], name
    env = json.loads(docker("inspect", "-f", "{{json .Config.Env}}", twelve_factor.container).stdout)
    assert f"SOME_PLAIN={plain}" in env


# The projects that the `deployed` fixture can make and deploy, by the fixture that gives each.
ENVIRONMENTS = {
    "wagtail_site": wagtail_environment,
    "startproject_site": startproject_environment,
    "twelve_factor_site": twelve_factor_environment,
}

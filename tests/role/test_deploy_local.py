"""A real deploy of the `local` environment to this machine's Docker engine, with the real inventory
and playbooks. A release is the image and its configuration: a change of either is a new release,
health-checked, and rolled back as one, switched behind the environment's edge without a failed
request. The site answers, a second run changes nothing, rollback.yml returns the previous release
(code and configuration), a release that fails its health check (broken code or broken settings)
never answers a request and leaves the previous one serving, even after `docker restart`, a
rotated secret reaches the running site, a second deploy started meanwhile stops before it changes
anything, two projects on one host prune and roll back independently, and the secret key appears
nowhere it should not (not even with -vvv --diff).

One environment serves every test of this module (a deploy takes most of a minute), but no test relies
on another having run: the `deployment` fixture makes the first deploy once, and each test starts
from whatever release serves then (one of the inventory's configuration: each test leaves it so),
making what else it needs itself. Any one of them runs alone (`pytest -k <name>`)."""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import ansible_helpers
import pytest
import urllib3
from ansible_helpers import recap

from helpers import ROOT, docker

PORT = 18000
PROJECT = "dd-test"
OTHER_PORT = 18002
OTHER_PROJECT = "dd-other"


class Deployment(ansible_helpers.Deployment):
    """The demo project's `local` environment: its page shows the release that serves it."""

    def page(self):
        response = self.get()
        assert response.status == 200
        return re.search(r'<code id="release">([\w-]+)</code>', response.data.decode())[1]

    def answers(self, host):
        """Whether the site answers a request for `host` (nginx closes the connection for a name
        that the site does not serve)."""
        try:
            return self.get(host=host).status == 200
        except urllib3.exceptions.ProtocolError:
            return False


def source_copy(tmp_path, change):
    """A copy of the demo project (app/, as git sees it) with one change: a new image.
    Returns (the project's directory, image tag)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "--", "app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    change(tmp_path / "app")
    tag = subprocess.run(
        [str(ROOT / "scripts/release-id.sh")],
        env={**os.environ, "APP_DIR": str(tmp_path / "app")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    BUILT.append(tag)
    return tmp_path / "app", tag


def restyle(colour):
    def change(app):
        css = app / "pages/static/pages/site.css"
        css.write_text(css.read_text() + f"footer {{ color: {colour}; }}\n")

    return change


def image_exists(reference):
    return docker("image", "inspect", reference, check=False).returncode == 0


def text(result):
    return " ".join(result.stdout.split())


BUILT = []  # image tags built by these tests, removed at the end

# Django's middleware (project/settings/base.py) and one that cannot be imported.
BROKEN_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "no_such_module.Middleware",
]


@pytest.fixture(scope="module")
def environment(tmp_path_factory, image):
    """The project's `local` environment, not deployed yet; removed at the end."""
    environment = Deployment(tmp_path_factory.mktemp("deploy") / "srv", tmp_path_factory.mktemp("vars"), PROJECT, PORT)
    yield environment
    environment.remove()
    for tag in BUILT:
        docker("image", "rm", f"django-dockerable:{tag}", check=False)


@pytest.fixture(scope="module")
def first_deploy(environment):
    """The environment's first deploy, with -vvv --diff: its output, release and secret key."""
    result = environment.run("deploy.yml", "-vvv", "--diff")
    assert result.returncode == 0, result.stdout[-4000:]
    return SimpleNamespace(result=result, release=environment.current(), secret_key=environment.secret_key)


@pytest.fixture
def deployment(environment, first_deploy):
    """The environment, deployed: a healthy release serves (whichever the tests before left)."""
    assert environment.page() == environment.current()
    assert not environment.lock.exists()
    return environment


@pytest.fixture(scope="module")
def other(tmp_path_factory, environment):
    """A second project on the same host, sharing the image name."""
    other = Deployment(tmp_path_factory.mktemp("other") / "srv", tmp_path_factory.mktemp("vars"), OTHER_PROJECT,
                       OTHER_PORT)  # fmt: skip
    yield other
    other.remove()


def test_first_deploy_serves_the_site_and_hides_the_secret(deployment, first_deploy, image):
    result, release, secret = first_deploy.result, first_deploy.release, first_deploy.secret_key
    assert release.startswith(image.split(":")[-1] + "-")
    assert f"deploy release={release} previous=none changed=image,configuration result=ok" in deployment.audit()
    assert release in deployment.releases()
    assert image_exists(f"{PROJECT}-local/release:{release}")

    # The archive it shipped is gone from the controller (and the host).
    assert [path for path in Path(tempfile.gettempdir()).glob("django-dockerable-*") if path.is_dir()] == []
    assert not list(Path("/var/tmp").glob("django-dockerable-*.tar"))

    assert secret not in result.stdout
    assert secret not in docker("inspect", deployment.container, f"{PROJECT}-local-edge").stdout
    assert secret not in docker("image", "inspect", image).stdout
    assert secret not in docker("history", "--no-trunc", image).stdout
    saved = subprocess.run(["docker", "save", image], capture_output=True, check=True).stdout
    assert secret.encode() not in saved
    # ... and it is where it belongs, in the release, readable by the app's group only.
    secrets_file = deployment.env_dir / "releases" / release / "settings/secrets.json"
    assert json.loads(secrets_file.read_text())["django_secret_key"] == secret
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o640"


def test_second_deploy_changes_nothing(deployment):
    # The inventory's release first (another test may have left another one serving), then again.
    result = deployment.run()
    assert result.returncode == 0, result.stdout[-4000:]
    before = deployment.current()
    result = deployment.run()
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)["changed"] == 0, result.stdout[-4000:]
    assert deployment.current() == before
    # Nothing was shipped, written or migrated again, and the site was still checked through its port.
    tasks = "".join(path.read_text() for path in (ROOT / "roles/django_dockerable/tasks").glob("*.yml"))
    health = r"TASK \[django_dockerable : Wait for /healthz with Host localhost\][^\n]*\nok: \[localhost\]"
    assert re.search(health, result.stdout), result.stdout[-4000:]
    skipped_tasks = ("Pull the image", "Copy the archive to the host", "Write the release's files")
    for skipped in (*skipped_tasks, "Check for unapplied migrations"):
        assert f"- name: {skipped}\n" in tasks
        assert not re.search(rf"TASK \[django_dockerable : {re.escape(skipped)}\][^\n]*\n(ok|changed):", result.stdout)
    assert not deployment.lock.exists()


def test_a_configuration_change_alone_is_a_new_release_and_rolls_back(deployment):
    first = deployment.current()
    first_settings = (deployment.env_dir / "releases" / first / "settings/settings.py").read_text()
    assert not deployment.answers("other.test")  # not a name of the site yet

    result = deployment.run(extra_allowed_hosts=["other.test"])
    assert result.returncode == 0, result.stdout[-4000:]
    second = deployment.current()
    assert second != first and second.split("-")[0] == first.split("-")[0]
    assert deployment.page() == second
    assert deployment.answers("other.test")
    assert deployment.previous() == first
    assert f"deploy release={second} previous={first} changed=configuration result=ok" in deployment.audit()
    # The serving release's files were never touched: the new configuration is beside them.
    assert (deployment.env_dir / "releases" / first / "settings/settings.py").read_text() == first_settings

    result = deployment.run("playbooks/rollback.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.page() == first
    assert not deployment.answers("other.test")  # the old configuration is back too
    assert f"rollback release={first} previous={second} changed=configuration result=ok" in deployment.audit()

    # The newer release is still on the host, so it can be rolled forward by name.
    result = deployment.run("playbooks/rollback.yml", "-e", f"django_dockerable_rollback_to={second}")
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.page() == second
    assert deployment.answers("other.test")

    # Deploying the first configuration again (the same image) is the first release again.
    result = deployment.run(release=first.split("-")[0])
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.current() == first and deployment.page() == first
    assert not deployment.lock.exists()


def test_a_new_image_then_rollback(deployment, image, tmp_path):
    first = deployment.current()
    source, tag = source_copy(tmp_path, restyle("#555"))
    with deployment.load() as load:
        result = deployment.run(source=source)
    assert result.returncode == 0, result.stdout[-4000:]
    second = deployment.current()
    # Behind the edge, not one request failed, and the new release took over.
    assert load.outcomes.keys() == {"ok"}, load.outcomes
    assert load.releases.keys() == {first, second}, load.releases
    # The previous release stays on the host, stopped, for a rollback.
    assert docker("inspect", "-f", "{{.State.Status}}", f"{PROJECT}-local-{first}").stdout.strip() == "exited"
    assert second.startswith(tag + "-") and second.split("-")[1] == first.split("-")[1]
    assert deployment.page() == second
    assert deployment.previous() == first
    assert f"deploy release={second} previous={first} changed=image result=ok" in deployment.audit()

    with deployment.load() as load:
        result = deployment.run("playbooks/rollback.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.page() == first
    assert f"rollback release={first} previous={second} changed=image result=ok" in deployment.audit()
    assert load.outcomes.keys() == {"ok"}, load.outcomes
    assert load.releases.keys() == {first, second}, load.releases


def test_a_failing_image_leaves_the_previous_release_serving(deployment, tmp_path):
    first = deployment.current()

    def break_the_app(app):
        # Broken at run time only (the build, which checks that the application loads, has no RELEASE_ID).
        wsgi = app / "project/wsgi.py"
        broken = "if __import__('os').environ.get('RELEASE_ID'): raise ImportError('this release is broken')\n"
        wsgi.write_text(broken + wsgi.read_text())

    source, broken = source_copy(tmp_path, break_the_app)
    with deployment.load() as load:
        result = deployment.run(source=source)
    assert result.returncode != 0
    assert f"release {broken}-" in text(result) and "did not become healthy" in text(result)
    assert f"Release {first} kept serving: release {broken}-" in text(result)
    assert "never received a request, and was removed." in text(result)
    # Not one request failed, and every answer came from the release that was serving.
    assert load.outcomes.keys() == {"ok"}, load.outcomes
    assert load.releases.keys() == {first}, load.releases
    assert deployment.page() == first
    audit = deployment.audit()
    assert re.search(rf"deploy release={broken}-\w+ previous={first} changed=image result=failed", audit)
    assert not deployment.lock.exists()
    assert deployment.current() == first
    # The failed release is gone from the host: its directory and its image.
    assert [name for name in deployment.releases() if name.startswith(broken)] == []
    assert not image_exists(f"django-dockerable:{broken}")
    assert docker("ps", "--all", "-q", "--filter", f"name=^{PROJECT}-local-{broken}").stdout.strip() == ""


def test_a_project_that_does_not_build_stops_the_deploy_before_any_change(deployment, tmp_path):
    first, releases = deployment.current(), deployment.releases()

    def break_the_settings(app):
        base = app / "project/settings/base.py"
        # What the error says differs from the line's text, which a traceback would quote too.
        base.write_text(base.read_text() + "raise RuntimeError('this %s does not import' % 'project')\n")

    source, tag = source_copy(tmp_path, break_the_settings)
    result = deployment.run(source=source)
    assert result.returncode != 0
    assert f"The image django-dockerable:{tag} of the project in {source} did not build" in text(result), result.stdout[
        -4000:
    ]
    assert (
        "django_dockerable_settings_module: project.settings.base does not import in the image:"
        " RuntimeError: this project does not import (/app/project/settings/base.py, line" in text(result)
    ), result.stdout[-4000:]
    assert not image_exists(f"django-dockerable:{tag}")
    assert deployment.current() == first and deployment.page() == first
    assert deployment.releases() == releases
    assert not deployment.lock.exists()


def test_a_configuration_that_breaks_the_settings_leaves_the_previous_release_serving(deployment):
    first = deployment.current()
    # The migrations load the new settings first: the deploy stops there, before any switch.
    result = deployment.run(extra_settings={"INSTALLED_APPS": ["pages", "no_such_app"]})
    assert result.returncode != 0
    assert re.search(r"the migrations of release \S+ failed \(exit 1\): .*No module named 'no_such_app'", text(result))
    assert "No host was switched: the release that was serving is still serving." in text(result)
    assert deployment.page() == first
    assert deployment.current() == first
    assert not deployment.lock.exists()

    # Settings that pass Django's checks and the migrations but not the web application's start (one
    # middleware cannot be imported, so uWSGI stops): the switch fails its health check and the previous
    # release is put back.
    result = deployment.run(extra_settings={"MIDDLEWARE": BROKEN_MIDDLEWARE})
    assert result.returncode != 0
    assert "did not become healthy" in text(result)
    assert f"Release {first} kept serving" in text(result)
    assert deployment.page() == first
    assert deployment.current() == first
    assert re.search(rf"deploy release=\S+ previous={first} changed=configuration result=failed", deployment.audit())
    assert not deployment.lock.exists()

    # What serves is the previous release with its own configuration: a restart brings it back.
    docker("restart", deployment.container)
    for _ in range(60):
        try:
            if deployment.get("/healthz").status == 200:
                break
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(1)
    assert deployment.page() == first


def login(deployment, username, password):
    """Logs in to the admin site; returns the session cookie."""
    pool = urllib3.PoolManager(retries=False, timeout=10)
    url = f"http://127.0.0.1:{deployment.port}/admin/login/"
    form = pool.request("GET", url, headers={"Host": "localhost"}, redirect=False)
    assert form.status == 200
    csrf_cookie = re.search(r"csrftoken=([^;]+)", form.headers["Set-Cookie"])[1]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.data.decode())[1]
    response = pool.request(
        "POST",
        url + "?next=/admin/",
        fields={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        encode_multipart=False,
        headers={"Host": "localhost", "Cookie": f"csrftoken={csrf_cookie}"},
        redirect=False,
    )
    assert response.status == 302 and response.headers["Location"] == "/admin/", response.data[:2000]
    return re.search(r"sessionid=([^;]+)", response.headers["Set-Cookie"])[1]


def admin_status(deployment, session):
    return deployment.get("/admin/", headers={"Cookie": f"sessionid={session}"}).status


def test_a_rotated_secret_key_reaches_the_running_site(deployment):
    """Django signs each session with the secret key: after a rotation (and no fallback key), the
    running site no longer accepts a session signed with the old key, and a new login works."""
    password = secrets.token_urlsafe(16)
    create = ["python", "manage.py", "createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com"]
    docker("exec", "--user", "django", "--env", f"DJANGO_SUPERUSER_PASSWORD={password}", deployment.container, *create)
    session = login(deployment, "ops", password)
    assert admin_status(deployment, session) == 200

    before = deployment.current()
    deployment.variables["django_dockerable_secret_key"] = secrets.token_urlsafe(50)
    result = deployment.run()
    assert result.returncode == 0, result.stdout[-4000:]
    rotated = deployment.current()
    assert rotated != before
    assert f"deploy release={rotated} previous={before} changed=configuration result=ok" in deployment.audit()
    assert deployment.secret_key not in result.stdout

    assert admin_status(deployment, session) == 302  # signed with the old key: logged out
    assert admin_status(deployment, login(deployment, "ops", password)) == 200


def test_a_second_deploy_started_meanwhile_stops_before_any_change(deployment, tmp_path):
    source, tag = source_copy(tmp_path, restyle("#444"))
    first = subprocess.Popen(
        [str(Path(sys.executable).parent / "ansible-playbook"), *deployment.command(source=source)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(600):
            if deployment.lock.exists():
                break
            time.sleep(0.1)
        assert deployment.lock.exists(), "the first deploy never took the lock"
        holder = deployment.lock.read_text().strip()
        second = deployment.run()
        assert second.returncode != 0
        assert f"the local environment is locked ({holder};" in text(second)
        assert recap(second.stdout)["changed"] == 0
    finally:
        output, _ = first.communicate(timeout=900)
    assert first.returncode == 0, output[-4000:]
    assert deployment.current().startswith(tag + "-") and deployment.page() == deployment.current()
    assert not deployment.lock.exists()


def test_old_releases_are_pruned(deployment, tmp_path):
    # At least three releases on the host (the tests before may have left them).
    for colour in ("#a00", "#b00", "#c00"):
        if len(deployment.releases()) > 2:
            break
        source, _ = source_copy(tmp_path / colour[1:], restyle(colour))
        result = deployment.run(source=source)
        assert result.returncode == 0, result.stdout[-4000:]
    current, previous = deployment.current(), deployment.previous()
    assert len(deployment.releases()) > 2
    removed = [name for name in deployment.releases() if name not in (current, previous)]

    # The serving image again (nothing to build or switch), keeping two releases.
    result = deployment.run(keep_releases=2, release=current.split("-")[0])

    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.current() == current
    assert deployment.releases() == sorted([current, previous])
    for name in removed:
        assert not image_exists(f"{PROJECT}-local/release:{name}")
        assert docker("ps", "--all", "-q", "--filter", f"name=^{PROJECT}-local-{name}$").stdout.strip() == ""
    # The previous release's container is kept, stopped, for a rollback.
    assert docker("inspect", "-f", "{{.State.Status}}", f"{PROJECT}-local-{previous}").stdout.strip() == "exited"
    for kept in (current, previous):
        assert image_exists(f"{PROJECT}-local/release:{kept}")
        assert image_exists(f"django-dockerable:{kept.split('-')[0]}")
    assert deployment.page() == current


def test_two_projects_on_one_host_prune_and_roll_back_independently(deployment, other, tmp_path):
    # The other project serves the image that this one serves now, then a newer one.
    shared = deployment.current().split("-")[0]
    result = other.run(release=shared)
    assert result.returncode == 0, result.stdout[-4000:]
    other_first = other.current()
    source, newer = source_copy(tmp_path / "newer", restyle("#333"))
    assert newer != shared
    result = other.run(source=source)
    assert result.returncode == 0, result.stdout[-4000:]
    assert other.previous() == other_first

    # This project moves on twice, keeping two releases: the shared image leaves its records.
    for colour in ("#222", "#111"):
        source, _ = source_copy(tmp_path / colour[1:], restyle(colour))
        result = deployment.run(source=source, keep_releases=2)
        assert result.returncode == 0, result.stdout[-4000:]
    assert all(not name.startswith(shared) for name in deployment.releases())
    # ... but the other project's rollback image is still there, and its rollback works.
    assert image_exists(f"django-dockerable:{shared}")
    result = other.run("playbooks/rollback.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert other.page() == other_first

    # Each project's rollback switches only its own site.
    serving = deployment.current()
    result = deployment.run("playbooks/rollback.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    assert deployment.page() == deployment.current() != serving
    assert other.page() == other_first


def test_an_interrupted_deploys_lock_is_reported_then_broken(deployment):
    deployment.lock.write_text("taken 2026-01-01T00:00:00Z by someone@elsewhere for deploy run 1\n")
    result = deployment.run()
    assert result.returncode != 0
    assert "the local environment is locked (taken 2026-01-01T00:00:00Z" in text(result)
    assert deployment.lock.exists()  # another run's lock is never removed without being asked
    # The serving image again: nothing to build or switch.
    result = deployment.run(
        "deploy.yml", "-e", "django_dockerable_break_lock=true", release=deployment.current().split("-")[0]
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert not deployment.lock.exists()
    assert recap(result.stdout)["changed"] == 0


# A migration that takes a few seconds: time enough to see the site in maintenance meanwhile.
SLOW_MIGRATION = """from django.db import migrations
import time


def pause(apps, schema_editor):
    time.sleep(5)


class Migration(migrations.Migration):
    dependencies = [("pages", "0001_initial")]
    operations = [migrations.RunPython(pause, migrations.RunPython.noop)]
"""


def test_migrations_run_in_maintenance_when_asked(deployment, tmp_path):
    """django_dockerable_maintenance_during_migrate: while a release's migrations apply, the site
    answers 503 (health checks still 200); before and after, it serves; the audit log says when."""

    def add_migration(app):
        (app / "pages/migrations/0002_pause.py").write_text(SLOW_MIGRATION)

    source, tag = source_copy(tmp_path, add_migration)
    statuses, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            try:
                statuses.append(deployment.get("/", retries=False, timeout=5).status)
            except urllib3.exceptions.HTTPError as error:
                statuses.append(type(error).__name__)
            stop.wait(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        result = deployment.run(source=source, maintenance_during_migrate=True)
    finally:
        stop.set()
        poller.join(10)
    assert result.returncode == 0, result.stdout[-4000:]
    release = deployment.current()
    assert release.startswith(tag + "-")
    assert set(statuses) == {200, 503}, statuses
    assert statuses[0] == 200 and statuses[-1] == 200
    assert not (deployment.env_dir / "maintenance/on").exists()
    audit = deployment.audit()
    on = audit.index(f"maintenance on reason=migrations_of_release_{release} result=ok")
    off = audit.index(f"maintenance off reason=migrations_of_release_{release} result=ok")
    assert on < off < audit.index(f"deploy release={release} ")

"""What the image holds, and what it must not: no secrets, no environment settings, no compiler."""

import shutil
import textwrap

from conftest import SETTINGS_HEAD, secret_key, write_environment
from helpers import ROOT, docker, inspect, python_with_settings


def run_in_image(image, *command, options=()):
    return docker("run", "--rm", "--entrypoint", command[0], *options, image, *command[1:], check=False)


def test_no_secrets_or_environment_settings_in_the_image(image):
    found = run_in_image(image, "find", "/", "-xdev", "(", "-name", "secrets.json", "-o", "-name", "*.sqlite3", ")")
    assert found.stdout.strip() == ""
    entries = run_in_image(image, "ls", "/app/project/settings").stdout.split()
    assert sorted(entry for entry in entries if entry != "__pycache__") == ["__init__.py", "base.py"]


def test_dockerignore_keeps_environment_files_out_of_the_build_context(image, base_image, tmp_path):
    """Builds the real app/ context, with decoy environment files added, and lists what arrives."""
    context = tmp_path / "app"
    shutil.copytree(ROOT / "app", context)
    decoy = context / "project/settings/staging"
    decoy.mkdir()
    (decoy / "settings.py").write_text("SECRET_KEY = 'decoy'\n")
    (decoy / "secrets.json").write_text('{"django_secret_key": "decoy"}\n')
    (context / "pages/secrets.json").write_text("{}\n")
    (context / "data").mkdir()
    (context / "data/db.sqlite3").write_text("decoy\n")
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\nCOPY . /context\n")
    tag = "django-dockerable-context-probe:test"
    # Built the way the image is (BuildKit, which reads app/.dockerignore as the image's build does).
    docker("buildx", "build", "--quiet", "--file", str(tmp_path / "Dockerfile"), "--tag", tag, str(context))
    try:
        listing = run_in_image(tag, "find", "/context", "-type", "f").stdout.split()
    finally:
        docker("image", "rm", tag, check=False)
    assert "/context/project/settings/base.py" in listing
    assert "/context/dockerable/cmd.sh" in listing
    assert not [path for path in listing if "staging" in path or "secrets.json" in path or "sqlite3" in path]


def test_no_compiler_in_the_runtime_image(image):
    for tool in ("gcc", "cc", "make"):
        assert run_in_image(image, "sh", "-c", f"command -v {tool}").returncode != 0, tool


def test_release_id_is_a_label_and_an_environment_value(image):
    release = inspect(image, '{{index .Config.Labels "io.django-dockerable.release"}}')
    assert len(release) == 12
    assert f"RELEASE_ID={release}" in inspect(image, "{{json .Config.Env}}")
    assert image.endswith(f":{release}")


def test_check_deploy_has_no_warnings_with_production_settings(image, tmp_path):
    production = textwrap.dedent("""\
        ALLOWED_HOSTS = ["www.example.com"]
        SECURE_SSL_REDIRECT = True
        SECURE_HSTS_SECONDS = 63072000
        SECURE_HSTS_INCLUDE_SUBDOMAINS = True
        SECURE_HSTS_PRELOAD = True
        SESSION_COOKIE_SECURE = True
        CSRF_COOKIE_SECURE = True
    """)
    env_dir, _ = write_environment(
        tmp_path,
        "prodlike",
        SETTINGS_HEAD + production,
        {"django_secret_key": secret_key()},
    )
    result = python_with_settings(
        image, env_dir, "prodlike", "manage.py", "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout

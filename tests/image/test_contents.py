"""What the image holds, and what it must not: no secrets, no environment settings, no compiler."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import SETTINGS_HEAD, secret_key, write_environment
from helpers import ROOT, docker, inspect, python_with_settings


def run_in_image(image, *command, options=()):
    return docker("run", "--rm", "--entrypoint", command[0], *options, image, *command[1:], check=False)


def test_no_secrets_or_environment_settings_in_the_image(image):
    found = run_in_image(image, "find", "/", "-xdev", "(", "-name", "secrets.json", "-o", "-name", "*.sqlite3", ")")
    assert found.stdout.strip() == ""
    entries = run_in_image(image, "ls", "/app/project/settings").stdout.split()
    assert sorted(entry for entry in entries if entry != "__pycache__") == ["__init__.py", "base.py"]


def test_the_ignore_rules_keep_environment_files_out_of_the_build_context(image, tmp_path):
    """Stages the demo project, with decoy environment files added (outside git: the rules alone
    must catch them), the way a build does (build-plan.py), and lists what would reach the image."""
    project = tmp_path / "app"
    shutil.copytree(ROOT / "app", project, ignore=shutil.ignore_patterns("__pycache__"))
    decoy = project / "project/settings/staging"
    decoy.mkdir()
    (decoy / "settings.py").write_text("SECRET_KEY = 'decoy'\n")
    (decoy / "secrets.json").write_text('{"django_secret_key": "decoy"}\n')
    (project / "pages/secrets.json").write_text("{}\n")
    (project / "data").mkdir()
    (project / "data/db.sqlite3").write_text("decoy\n")
    (project / ".env").write_text("DJANGO_SECRET_KEY=decoy\n")
    plan = json.loads(
        subprocess.run(
            [sys.executable, str(ROOT / "scripts/build-plan.py")],
            env={**os.environ, "APP_DIR": str(project), "IMAGE_NAME": "dd-context-probe", "FORCE_BUILD": "1"},
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    context = Path(plan["context"])
    try:
        listing = sorted(str(path.relative_to(context)) for path in context.rglob("*") if path.is_file())
    finally:
        shutil.rmtree(context)
    assert "project/project/settings/base.py" in listing and "project/manage.py" in listing
    assert "dockerable/cmd.sh" in listing and "dockerable/Dockerfile" in listing
    assert "requirements/requirements.txt" in listing
    # The kit's directory beside the demo is not part of the project.
    assert not [path for path in listing if path.startswith("project/dockerable/")]
    assert not [
        path
        for path in listing
        if "staging" in path or "secrets.json" in path or "sqlite3" in path or path.endswith("/.env")
    ]


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

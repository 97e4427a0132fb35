"""scripts/build-plan.py without Docker: which of a project's files reach the image (the project's
.dockerignore, then the kit's rules, then git's), its requirements with their includes, the release
id's stability, and the messages that name the variable to fix."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT

SPEC = importlib.util.spec_from_file_location("build_plan", ROOT / "scripts/build-plan.py")
plan = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(plan)


def write(root, files):
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def release_id(app_dir, **inputs):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/build-plan.py"), "--id"],
        env={**os.environ, "APP_DIR": str(app_dir), **inputs},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.txt", "a.txt", True),
        ("*.txt", "sub/a.txt", False),  # as Docker's: no slash does not mean "anywhere"
        ("**/*.txt", "sub/deeper/a.txt", True),
        ("**/*.txt", "a.txt", True),
        ("/media", "media", True),
        ("docs/**", "docs/a/b.md", True),
        ("file?.py", "file1.py", True),
        ("file[0-9].py", "filex.py", False),
        ("file[!0-9].py", "filex.py", True),
    ],
)
def test_patterns_mean_what_they_mean_to_docker(tmp_path, pattern, path, matches):
    (tmp_path / ".dockerignore").write_text(pattern + "\n")
    assert plan.excluded(path, plan.read_rules(tmp_path / ".dockerignore")) is matches


def test_a_directory_excludes_its_files_and_the_last_matching_rule_decides(tmp_path):
    (tmp_path / ".dockerignore").write_text("docs\n!docs/keep.md\n")
    rules = plan.read_rules(tmp_path / ".dockerignore")
    assert plan.excluded("docs/a/b.md", rules)
    assert not plan.excluded("docs/keep.md", rules)


def test_what_a_developer_keeps_never_reaches_the_image(tmp_path):
    """The kit's rules apply after the project's own, whose exceptions cannot bring them back."""
    write(
        tmp_path,
        {
            "manage.py": "",
            "mysite/settings.py": "",
            "mysite/static/site.css": "",
            ".dockerignore": "build\n!.env\n",
            ".env": "SECRET=1\n",
            ".env.production": "SECRET=1\n",
            "db.sqlite3": "",
            "node_modules/x/index.js": "",
            ".venv/pyvenv.cfg": "",
            "env2/pyvenv.cfg": "",
            "env2/lib/site.py": "",
            "mysite/local_settings.py": "",
            "mysite/settings/local.py": "",
            ".git/config": "",
            "media/upload.txt": "",
            "build/out.txt": "",
            "mysite/__pycache__/settings.cpython-313.pyc": "",
        },
    )
    assert sorted(plan.project_files(tmp_path)) == ["manage.py", "mysite/settings.py", "mysite/static/site.css"]


def test_in_a_git_work_tree_only_what_git_keeps(tmp_path):
    write(tmp_path, {"manage.py": "", "app.py": "", "notes.txt": "", ".gitignore": "notes.txt\n"})
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert sorted(plan.project_files(tmp_path)) == [".gitignore", "app.py", "manage.py"]


def test_requirements_come_with_every_file_they_include(tmp_path):
    write(
        tmp_path,
        {
            "requirements/production.txt": "-r base.txt\n--constraint=constraints.txt\ngunicorn  # a comment\n",
            "requirements/base.txt": "Django>=5.2,<6\n-r common/extra.txt\n",
            "requirements/common/extra.txt": "-c ../constraints.txt\n",
            "requirements/constraints.txt": "Django==5.2.19\n",
        },
    )
    found = plan.requirement_files(tmp_path, "requirements/production.txt")
    assert sorted(found) == [
        "requirements/base.txt",
        "requirements/common/extra.txt",
        "requirements/constraints.txt",
        "requirements/production.txt",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("-r ../outside.txt\n", "is outside the project"),
        ("-r missing.txt\n", "missing.txt is not a file in the project"),
        ("-e .\n", "line 1, installs from a local path (-e .)"),
        ("Django\n./vendor/lib\n", "line 2, installs from a local path (./vendor/lib)"),
    ],
)
def test_requirements_the_image_cannot_install_are_refused(tmp_path, content, message):
    project = tmp_path / "project"
    write(project, {"requirements.txt": content})
    (tmp_path / "outside.txt").write_text("Django\n")
    with pytest.raises(plan.Refused) as refused:
        plan.requirement_files(project, "requirements.txt")
    assert str(refused.value).startswith("django_dockerable_requirements: ")
    assert message in str(refused.value)


def test_a_pyprojects_dependencies_are_its_requirements(tmp_path):
    write(tmp_path, {"pyproject.toml": '[project]\nname = "site"\ndependencies = ["Django>=5.2", "pillow"]\n'})
    assert plan.pyproject_requirements(tmp_path / "pyproject.toml") == "Django>=5.2\npillow\n"
    write(tmp_path, {"pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.12"\n'})
    with pytest.raises(plan.Refused, match="poetry export"):
        plan.pyproject_requirements(tmp_path / "pyproject.toml")


def test_the_release_id_follows_what_is_built_and_nothing_else(tmp_path):
    write(tmp_path, {"manage.py": "", "requirements.txt": "Django\n", "mysite/settings.py": "A = 1\n"})
    first = release_id(tmp_path, SETTINGS_MODULE="mysite.settings")
    assert first.returncode == 0, first.stderr
    assert release_id(tmp_path, SETTINGS_MODULE="mysite.settings").stdout == first.stdout
    (tmp_path / ".env").write_text("LOCAL=1\n")  # left out of the image: the same id
    assert release_id(tmp_path, SETTINGS_MODULE="mysite.settings").stdout == first.stdout
    changes = [
        {"SETTINGS_MODULE": "mysite.other"},
        {"SETTINGS_MODULE": "mysite.settings", "RUNTIME_PACKAGES": json.dumps(["gettext"])},
        {"SETTINGS_MODULE": "mysite.settings", "BASE_IMAGE": "debian:bookworm-slim"},
    ]
    ids = {release_id(tmp_path, **change).stdout for change in changes}
    assert len(ids) == 3 and first.stdout not in ids
    (tmp_path / "mysite/settings.py").write_text("A = 2\n")
    assert release_id(tmp_path, SETTINGS_MODULE="mysite.settings").stdout != first.stdout


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"APP_DIR": "/nonexistent/project"}, "django_dockerable_app_dir: /nonexistent/project is not a directory"),
        ({"MANAGE_PY": "src/manage.py"}, "django_dockerable_manage_py: "),
        ({"MANAGE_PY": "../manage.py"}, "django_dockerable_manage_py: '../manage.py' must be manage.py's path"),
        ({"REQUIREMENTS": "requirements/none.txt"}, "django_dockerable_requirements: requirements/none.txt is not"),
        ({"BUILD_ENV": '{"not a name": "x"}'}, "django_dockerable_build_env: 'not a name'"),
    ],
)
def test_wrong_inputs_are_refused_naming_the_variable(tmp_path, inputs, message):
    write(tmp_path, {"manage.py": "", "requirements.txt": "Django\n"})
    result = release_id(inputs.pop("APP_DIR", tmp_path), **inputs)
    assert result.returncode == 2
    assert message in result.stderr

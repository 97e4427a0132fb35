#!/usr/bin/env python3
"""How this machine builds the image of a Django project: prints one line of JSON,
    {"name": ..., "tag": <release id>, "exists": true|false, "context": <directory>|"",
     "dockerfile": "dockerable/Dockerfile", "args": {...}}
for the role's build.yml (community.docker.docker_image_build) and for build-image.sh.

The image is the project's files plus this kit's packaging (app/dockerable/): the build context is
a directory staged here, holding
    dockerable/     the kit's directory
    requirements/   the project's requirements file and every file it includes (-r, -c), or the
                    dependencies of its pyproject.toml
    project/        the project's files that the ignore rules let through: the project's own
                    .dockerignore, then the kit's (dockerable/project.dockerignore), which has the
                    last word; in a git work tree, only files that git does not ignore
The tag is the first 12 hex digits of a SHA-256 over those files (paths and contents) and the build's
inputs, so the same project always gives the same tag, on any machine.

"exists": the image <name>:<tag> is on this machine already; then, unless FORCE_BUILD=1, nothing is
staged ("context" is empty, "args" {}). Otherwise "context" is a new temporary directory that the
caller removes after the build.

Inputs, from the environment (the role passes its variables of the same names, django_dockerable_*);
unset ones take the role's defaults (roles/django_dockerable/defaults/main.yml):
    APP_DIR (relative: to this repository's root; default app/, the demo), IMAGE_NAME, SETTINGS_MODULE,
    WSGI_APPLICATION, REQUIREMENTS, MANAGE_PY, BUILD_PACKAGES and RUNTIME_PACKAGES (JSON lists, or
    words), BASE_IMAGE, BUILD_ENV (a JSON object)
    FORCE_BUILD=1   stage and give the build arguments even when the image exists
With --id, prints the tag only (scripts/release-id.sh). A wrong input stops it with a message on
stderr naming the role variable, and exit status 2.
"""

import functools
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
KIT = HERE.parent / "app" / "dockerable"
DEFAULTS = HERE.parent / "roles" / "django_dockerable" / "defaults" / "main.yml"
INPUTS = ("app_dir", "image_name", "settings_module", "wsgi_application", "requirements", "manage_py",
          "build_packages", "runtime_packages", "base_image", "build_env")  # fmt: skip


class Refused(Exception):
    """A wrong input; the message names the role variable."""


# --- ignore rules, with .dockerignore's meaning ---------------------------------------------------
def pattern_regex(pattern):
    """A .dockerignore pattern (Go's filepath.Match, plus ** for any number of directories) as a
    regular expression over a path relative to the context, '/'-separated."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : end]
                out.append("[" + ("^" + body[1:] if body[:1] in "!^" and body else body) + "]")
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("^" + "".join(out) + "$")


def read_rules(path):
    """[(regex, exception)] of an ignore file; [] when there is none."""
    rules = []
    if not path.is_file():
        return rules
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        line = line[1:].strip() if exception else line
        cleaned = os.path.normpath(line.lstrip("/")).replace(os.sep, "/")
        if cleaned in ("", "."):
            continue
        rules.append((pattern_regex(cleaned), exception))
    return rules


def excluded(path, rules):
    """Whether the rules leave `path` out: the last rule that matches it, or one of its parent
    directories, decides."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    verdict = False
    for regex, exception in rules:
        if any(regex.match(candidate) for candidate in candidates):
            verdict = not exception
    return verdict


# --- the project's files --------------------------------------------------------------------------
def candidate_files(app_dir):
    """Paths (relative, '/'-separated) of the files to consider: those git does not ignore in a work
    tree, else every file. Directories that are virtualenvs or version-control stores are skipped."""
    try:
        listing = subprocess.run(
            ["git", "-C", str(app_dir), "ls-files", "-z", "-co", "--exclude-standard", "--", "."],
            capture_output=True, check=False,
        )  # fmt: skip
    except OSError:  # no git on this machine: every file
        listing = None
    if listing is not None and listing.returncode == 0:
        names = [name for name in listing.stdout.decode().split("\0") if name]
        for name in names:
            path = app_dir / name
            if path.is_dir() and not path.is_symlink():  # a submodule: its files
                yield from (f"{name}/{inner}" for inner in walk(path))
            elif path.is_file() or path.is_symlink():
                yield name
        return
    yield from walk(app_dir)


def walk(root):
    for directory, subdirs, files in os.walk(root):
        current = Path(directory)
        subdirs[:] = sorted(
            name
            for name in subdirs
            if name not in (".git", ".hg", ".svn", "node_modules", "__pycache__")
            and not (current / name / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            yield str((current / name).relative_to(root)).replace(os.sep, "/")


def project_files(app_dir):
    """{path in the project: source path} of the files that go into the image."""
    rules = read_rules(app_dir / ".dockerignore") + read_rules(KIT / "project.dockerignore")
    # Each directory is asked once whether it is a virtualenv, not once per file below it.
    virtualenv = functools.cache(lambda directory: (app_dir / directory / "pyvenv.cfg").exists())
    selected = {}
    for name in candidate_files(app_dir):
        if any(virtualenv(str(parent)) for parent in PurePosixPath(name).parents if str(parent) != "."):
            continue  # inside a virtualenv
        if excluded(name, rules):
            continue
        selected[name] = app_dir / name
    return selected


# --- requirements ---------------------------------------------------------------------------------
INCLUDE = re.compile(r"^(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?<=-r)|(?<=-c))(\S+)$")
LOCAL = re.compile(r"^(?:-e|--editable)\b|^(?:\.{1,2}/|/|file:)")


def requirement_files(app_dir, first):
    """{path under requirements/: source path} of a requirements file and the files it includes,
    recursively (paths relative to the including file, as pip reads them)."""
    root = app_dir.resolve()
    found, queue = {}, [root / first]
    while queue:
        path = queue.pop(0).resolve()
        relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else None
        if relative is None:
            raise Refused(
                f"django_dockerable_requirements: {path} (included by the requirements) is outside the project"
                f" ({root}): keep every requirements file inside the project"
            )
        if relative in found:
            continue
        if not path.is_file():
            raise Refused(f"django_dockerable_requirements: {relative} is not a file in the project ({root})")
        found[relative] = path
        logical = re.sub(r"\\\n", "", path.read_text(encoding="utf-8", errors="replace"))
        for number, line in enumerate(logical.splitlines(), 1):
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            include = INCLUDE.match(line)
            if include and not re.match(r"^[a-z+]+://", include[1]):
                queue.append(path.parent / include[1])
            elif LOCAL.match(line):
                raise Refused(
                    f"django_dockerable_requirements: {relative}, line {number}, installs from a local path"
                    f" ({line}): the image installs the requirements before the project's code is in it; list"
                    " packages from an index instead"
                )
    return found


def pyproject_requirements(path):
    """The text of a requirements file made of a pyproject.toml's [project] dependencies."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise Refused(f"django_dockerable_requirements: {path} cannot be read: {error}") from None
    project = data.get("project", {})
    if "dependencies" in project.get("dynamic", []) or "dependencies" not in project:
        raise Refused(
            f"django_dockerable_requirements: {path} has no static [project] dependencies (a Poetry or dynamic"
            " list?): export them to a requirements file (e.g. poetry export -o requirements.txt) and name it"
        )
    return "".join(f"{dependency}\n" for dependency in project["dependencies"])


# --- inputs ---------------------------------------------------------------------------------------
def role_defaults():
    text = DEFAULTS.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:
        # A Python without PyYAML (the system's python3): the file's one-line values are enough here.
        found = re.findall(r"^(django_dockerable_\w+): *(.*?)(?: +#.*)?$", text, re.M)
        return {name: json.loads(value) if value in ("[]", "{}") else value.strip("\"'") for name, value in found}
    return yaml.safe_load(text) or {}


def inputs():
    defaults = role_defaults()
    values = {}
    for name in INPUTS:
        raw = os.environ.get(name.upper())
        default = defaults.get(f"django_dockerable_{name}")
        if raw is None:
            value = default
        elif isinstance(default, (list, dict)):
            value = json.loads(raw) if raw.strip()[:1] in ("[", "{") else raw.split()
        else:
            value = raw
        values[name] = value
    # Relative to this repository's root, as the role takes it.
    values["app_dir"] = str(HERE.parent / (values["app_dir"] or "app"))
    values["image_name"] = values["image_name"] or "django-dockerable"
    values["build_packages"] = list(values["build_packages"] or [])
    values["runtime_packages"] = list(values["runtime_packages"] or [])
    values["build_env"] = dict(values["build_env"] or {})
    return values


def check(values):
    app_dir = Path(values["app_dir"])
    if not app_dir.is_dir():
        raise Refused(
            f"django_dockerable_app_dir: {app_dir} is not a directory on this machine:"
            " name your Django project's directory"
        )
    manage = PurePosixPath(values["manage_py"] or "")
    if manage.name != "manage.py" or manage.is_absolute() or ".." in manage.parts:
        raise Refused(
            f"django_dockerable_manage_py: '{manage}' must be manage.py's path inside the project,"
            " e.g. manage.py or src/manage.py"
        )
    if not (app_dir / manage).is_file():
        raise Refused(
            f"django_dockerable_manage_py: {app_dir / manage} does not exist:"
            " name manage.py's path inside django_dockerable_app_dir"
        )
    for name in values["build_env"]:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)):
            raise Refused(f"django_dockerable_build_env: '{name}' is not an environment variable name")


def main():
    only_id = sys.argv[1:] == ["--id"]
    values = inputs()
    check(values)
    app_dir = Path(values["app_dir"]).resolve()
    files = {f"dockerable/{name}": KIT / name for name in sorted(walk(KIT))}
    files |= {f"project/{name}": path for name, path in project_files(app_dir).items()}
    generated = {}
    requirements = values["requirements"]
    if str(requirements).endswith(".toml"):
        generated["requirements/pyproject-dependencies.txt"] = pyproject_requirements(app_dir / requirements)
        requirements_entry = "pyproject-dependencies.txt"
    else:
        files |= {f"requirements/{name}": path for name, path in requirement_files(app_dir, requirements).items()}
        requirements_entry = PurePosixPath(requirements).as_posix()
    args = {
        "SETTINGS_MODULE": values["settings_module"],
        "WSGI_APPLICATION": values["wsgi_application"],
        "MANAGE_DIR": str(PurePosixPath(values["manage_py"]).parent),
        "REQUIREMENTS": requirements_entry,
        "BUILD_PACKAGES": " ".join(values["build_packages"]),
        "RUNTIME_PACKAGES": " ".join(values["runtime_packages"]),
        "BUILD_ENV": json.dumps(values["build_env"], sort_keys=True),
    }

    digest = hashlib.sha256()
    for name in sorted(set(files) | set(generated)):
        if name in generated:
            content, mode = generated[name].encode(), 0o644
        else:
            source = files[name]
            content = os.readlink(source).encode() if source.is_symlink() else source.read_bytes()
            mode = source.lstat().st_mode
        digest.update(f"{name}\0{mode & 0o111 != 0}\0".encode() + hashlib.sha256(content).digest())
    digest.update(json.dumps({**args, "BASE_IMAGE": values["base_image"]}, sort_keys=True).encode())
    tag = digest.hexdigest()[:12]
    if only_id:
        print(tag)
        return 0

    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode
    ):
        raise Refused(
            "the docker CLI on this machine has no buildx plugin, which builds the image: run scripts/ensure-buildx.sh"
            " as root, or install Debian's docker-buildx (Debian 13 or later) or Docker's docker-buildx-plugin"
        )
    name = values["image_name"]
    exists = subprocess.run(["docker", "image", "inspect", f"{name}:{tag}"], capture_output=True).returncode == 0
    plan = {
        "name": name,
        "tag": tag,
        "exists": exists,
        "dockerfile": "dockerable/Dockerfile",
        "context": "",
        "args": {},
    }
    if not exists or os.environ.get("FORCE_BUILD") == "1":
        base = subprocess.run(
            [str(HERE / "base-image.sh")], env={**os.environ, "BASE_IMAGE": values["base_image"] or ""},
            stdout=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
        if base.returncode:
            raise Refused(f"django_dockerable_base_image: {values['base_image']} cannot be used (see above)")
        plan["args"] = {
            **args,
            "BASE_IMAGE": base.stdout.strip(),
            "RELEASE_ID": tag,
            "BUILD_CA_CERTS": local_ca_certificates(),
        }
        plan["context"] = stage(files, generated)
    print(json.dumps(plan))
    return 0


def local_ca_certificates():
    """This machine's own CA certificates (a TLS-inspecting proxy, say), which the builder stage
    trusts to reach the package index; they stay in that stage."""
    paths = sorted(Path("/usr/local/share/ca-certificates").glob("**/*.crt"))
    if paths:
        print(f"build-plan: the builder stage will trust this machine's {len(paths)} local CA certificate file(s)"
              " in /usr/local/share/ca-certificates", file=sys.stderr)  # fmt: skip
    return "".join(path.read_text() for path in paths)


def stage(files, generated):
    """A new directory holding the build context."""
    context = Path(tempfile.mkdtemp(prefix="django-dockerable-build-"))
    try:
        for name, source in files.items():
            target = context / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                target.symlink_to(os.readlink(source))
            else:
                shutil.copyfile(source, target)
                target.chmod(stat.S_IMODE(source.stat().st_mode) | 0o444)
        for name, content in generated.items():
            target = context / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        (context / "requirements").mkdir(exist_ok=True)
        (context / "project").mkdir(exist_ok=True)
    except BaseException:
        shutil.rmtree(context, ignore_errors=True)
        raise
    return str(context)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Refused as refusal:
        print(f"build-plan: {refusal}", file=sys.stderr)
        sys.exit(2)

"""Run by the Dockerfile once the project is in the image: checks the project's declared layout and
collects its static files, so that a project the image cannot serve stops the build (before any host
changes), with a message naming the role variable to fix.

The declared layout comes from the build's arguments (the role's variables):
  DOCKERABLE_PROJECT_DIR        /app/ and the directory of django_dockerable_manage_py
  DOCKERABLE_SETTINGS_MODULE    django_dockerable_settings_module, e.g. mysite.settings
  DOCKERABLE_WSGI_APPLICATION   django_dockerable_wsgi_application, e.g. mysite.wsgi:application
  DOCKERABLE_BUILD_ENV          django_dockerable_build_env: a JSON object of environment values that
                                the settings need to import at build time (never secrets)
"""

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

# Django's supported Python versions (Django's FAQ, "What Python version can I use with Django?").
PYTHONS = {
    (3, 2): ((3, 6), (3, 10)),
    (4, 0): ((3, 8), (3, 10)),
    (4, 1): ((3, 8), (3, 11)),
    (4, 2): ((3, 8), (3, 12)),
    (5, 0): ((3, 10), (3, 12)),
    (5, 1): ((3, 10), (3, 13)),
    (5, 2): ((3, 10), (3, 14)),
    (6, 0): ((3, 12), (3, 14)),
    (6, 1): ((3, 12), (3, 14)),
}


class Refused(Exception):
    """A project that this image cannot serve; the message says which variable to fix."""


def version(numbers):
    return ".".join(map(str, numbers))


def last_line(error):
    """The error's own words, with the place it was raised in the project's code."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename.startswith("/app/")]
    where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def check_manage_py():
    manage = Path(os.environ["DOCKERABLE_PROJECT_DIR"]).resolve() / "manage.py"
    if not manage.is_file():
        found = sorted(str(path.relative_to("/app")) for path in Path("/app").glob("**/manage.py"))[:5]
        raise Refused(
            f"django_dockerable_manage_py: {manage.relative_to('/app')} is not in the project"
            f" ({', '.join(found) or 'it has no manage.py at all'}): name manage.py's path in the project"
        )


def apply_build_env():
    values = json.loads(os.environ.get("DOCKERABLE_BUILD_ENV") or "{}")
    os.environ.update({name: str(value) for name, value in values.items()})


def check_settings():
    module = os.environ["DOCKERABLE_SETTINGS_MODULE"]
    try:
        importlib.import_module(module)
    except Exception as error:
        raise Refused(
            f"django_dockerable_settings_module: {module} does not import in the image: {last_line(error)}."
            " If it needs values that exist only at run time, give it placeholders for the build in"
            " django_dockerable_build_env (never secrets), or read them with a default"
        ) from None


def check_python():
    import django

    supported = PYTHONS.get(django.VERSION[:2])
    here = sys.version_info[:2]
    if supported and not supported[0] <= here <= supported[1]:
        raise Refused(
            f"django_dockerable_base_image: Django {version(django.VERSION[:3])} (from the project's requirements)"
            f" supports Python {version(supported[0])} to {version(supported[1])}, and this image's Python is"
            f" {version(here)}: choose a base image whose python3 is one of those (see the README's"
            ' "Deploy your own project"), or upgrade Django'
        )


def collect_static():
    import django
    from django.core.management import call_command

    os.environ["DJANGO_SETTINGS_MODULE"] = "dockerable.build_settings"
    try:
        django.setup()
        call_command("collectstatic", interactive=False, verbosity=0)
    except Exception as error:
        module = os.environ["DOCKERABLE_SETTINGS_MODULE"]
        raise Refused(
            f"django_dockerable_settings_module: manage.py collectstatic fails with {module}: {last_line(error)}"
        ) from None


def check_wsgi_application():
    spec = os.environ["DOCKERABLE_WSGI_APPLICATION"]
    from dockerable import load

    try:
        application = load(spec)
    except Exception as error:
        raise Refused(f"django_dockerable_wsgi_application: {spec} does not load: {last_line(error)}") from None
    if not callable(application):
        raise Refused(f"django_dockerable_wsgi_application: {spec} is not a WSGI application (not callable)")


def main():
    try:
        check_manage_py()
        apply_build_env()
        check_settings()
        check_python()
        collect_static()
        check_wsgi_application()
    except Refused as refusal:
        print(f"django-dockerable: the project cannot be served: {refusal}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

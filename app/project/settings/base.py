"""The demo project's settings, which every environment's settings extend (the role's release
settings start with ``from project.settings.base import *``; django_dockerable_settings_module).
No secrets here: they are the role's, read from secrets.json beside the release's settings
(``read_secrets`` does the same for settings written by hand)."""

import json
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# Baked into the image at build time (Dockerfile ARG RELEASE_ID); shown on the home page and /healthz.
RELEASE_ID = os.environ.get("RELEASE_ID", "dev")

DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pages",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# An environment overrides DATABASES. The default, SQLite in /app/data (a volume of its own,
# never served by nginx), lets a container without any database server start.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "/app/data/db.sqlite3",
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# nginx serves both straight from these directories (the kit collects the static files there at
# build time, and the role's release settings set both again).
STATIC_URL = "/static/"
STATIC_ROOT = "/var/www/static"
MEDIA_URL = "/media/"
MEDIA_ROOT = "/app/media"

# Security headers are set here, once, for every response Django makes; nginx adds only
# nosniff to the static and media files it serves itself.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


def read_secrets(settings_dir, *required):
    """Return the secrets.json beside an environment's settings module as a dict.

    Raises ImproperlyConfigured naming the file when it is missing or unreadable, and naming
    every required key that it lacks, so that a misconfigured container stops at start-up
    with a message that says what to fix.
    """
    path = Path(settings_dir) / "secrets.json"
    try:
        with path.open(encoding="utf-8") as handle:
            secrets = json.load(handle)
    except FileNotFoundError:
        raise ImproperlyConfigured(f"{path} is missing: the environment's secrets are not mounted") from None
    except (OSError, ValueError) as error:
        raise ImproperlyConfigured(f"{path} cannot be read as JSON: {error}") from None
    if not isinstance(secrets, dict):
        raise ImproperlyConfigured(f"{path} must hold a JSON object")
    missing = [key for key in required if not secrets.get(key)]
    if missing:
        raise ImproperlyConfigured(f"{path} lacks the key(s): {', '.join(missing)}")
    return secrets

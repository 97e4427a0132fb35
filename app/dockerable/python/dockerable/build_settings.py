"""The settings the build runs collectstatic with (prepare.py): the project's own module
(DOCKERABLE_SETTINGS_MODULE), with the static files collected where nginx serves them from. The
release's settings (rendered by the role) set the same STATIC_ROOT and STATIC_URL, so that a manifest
storage finds at run time the manifest written here."""

import importlib
import os

_project = importlib.import_module(os.environ["DOCKERABLE_SETTINGS_MODULE"])
globals().update({name: value for name, value in vars(_project).items() if name.isupper()})

STATIC_ROOT = "/var/www/static"
STATIC_URL = "/static/"

"""The kit's own Python code inside the image (/opt/dockerable/python, on the virtualenv's path):
the WSGI application that uWSGI serves (wsgi.py), Django's log handler (logging.py), and the build's
check of the project (prepare.py). Nothing here is the project's: the project is in /app."""

import importlib


def load(spec):
    """The object that a "module:attribute" (attribute default: application) names."""
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute or "application")

"""The WSGI application that uWSGI serves (dockerable/uwsgi.ini): the project's own application,
named by DOCKERABLE_WSGI_APPLICATION (the role's django_dockerable_wsgi_application, baked into the
image), behind two paths that the kit answers itself, so that the project's URLconf needs nothing:

- ``/healthz``: 200 and ``{"status": "ok", "release": ..., "host": ..., "database": true}`` when
  the default database answers ``SELECT 1``; 503 and ``"status": "unavailable"`` when it does not.
  With uploads in an object store (dockerable.storage.MediaStorage), ``"media"`` is ``"ok"`` when the
  store answers, else the reason, and the status is 503 then too: a release whose store is out of
  reach (wrong endpoint, bucket or key) fails the deploy's direct check and never gets a request.
  The deploy's checks, the container's HEALTHCHECK and status.yml read it.
- ``/ping``: ``pong <release>``, touching neither the database nor a template.

Every other request, whatever its path, is the project's.
"""

import json
import os
import socket

from dockerable import load

project_application = load(os.environ["DOCKERABLE_WSGI_APPLICATION"])

# Imported once the project's application has set Django up.
from django.core.files.storage import storages  # noqa: E402
from django.db import close_old_connections, connections  # noqa: E402

RELEASE = os.environ.get("RELEASE_ID", "dev")
HOST = socket.gethostname()
NO_STORE = ("Cache-Control", "no-store, max-age=0")


def database_answers():
    """Whether the default database answers a query, as a request would find it: the connection
    is opened or reused, and closed afterwards when Django's CONN_MAX_AGE says so."""
    close_old_connections()
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:
        return False
    finally:
        close_old_connections()


def media_store():
    """The uploads' storage when it is the kit's object store (dockerable.storage), else None."""
    # Read from the settings first: the project's own default storage is never instantiated here.
    backend = str(storages.backends.get("default", {}).get("BACKEND", ""))
    return storages["default"] if backend.startswith("dockerable.storage.") else None


def respond(start_response, status, content_type, body):
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), NO_STORE])
    return [data]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path not in ("/healthz", "/ping"):
        return project_application(environ, start_response)
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return respond(start_response, "405 Method Not Allowed", "text/plain; charset=utf-8", "GET only\n")
    if path == "/ping":
        return respond(start_response, "200 OK", "text/plain; charset=utf-8", f"pong {RELEASE}\n")
    database = database_answers()
    body = {"status": "ok", "release": RELEASE, "host": HOST, "database": database}
    store, media = media_store(), None
    if store is not None:
        media = store.check()
        body["media"] = media or "ok"
    healthy = database and media is None
    body["status"] = "ok" if healthy else "unavailable"
    status = "200 OK" if healthy else "503 Service Unavailable"
    return respond(start_response, status, "application/json", json.dumps(body))

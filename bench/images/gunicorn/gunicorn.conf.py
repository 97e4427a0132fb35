"""gunicorn in uWSGI's place, for the serving benchmark only (bench/images/gunicorn/Dockerfile).

The same settings as uwsgi.ini, from the variables cmd.sh has validated: workers, threads, timeout,
recycling, backlog, and the Unix socket nginx already reaches (mode 0660 through the umask, group
dockerable-socket as uwsgi.ini's chown-socket gives it).
"""

import grp
import os

# The kit's WSGI wrapper, as uwsgi.ini's module: /healthz and /ping, then the project's application
# (DOCKERABLE_WSGI_APPLICATION); run from the project's directory, where manage.py is.
wsgi_app = "dockerable.wsgi:application"
chdir = os.environ["DOCKERABLE_PROJECT_DIR"]
bind = "unix:/run/uwsgi/app.sock"
umask = 0o007
backlog = int(os.environ["UWSGI_LISTEN"])
workers = int(os.environ["UWSGI_PROCESSES"])
threads = int(os.environ["UWSGI_THREADS"])
worker_class = "gthread"
timeout = int(os.environ["UWSGI_HARAKIRI"])
max_requests = int(os.environ["UWSGI_MAX_REQUESTS"])
# Like uWSGI without lazy-apps: the app is imported once, before the workers are forked.
preload_app = True
graceful_timeout = 15
# nginx logs every request; gunicorn logs only its own events and errors.
errorlog = "-"


def when_ready(server):
    """The socket's group is nginx's way in: dockerable-socket, which gunicorn's user is in."""
    os.chown("/run/uwsgi/app.sock", -1, grp.getgrnam("dockerable-socket").gr_gid)

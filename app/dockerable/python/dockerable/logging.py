"""Where Django's log records go.

Inside the container uWSGI merges its workers' stdout into its own stderr, so Django's records
cannot be told apart from uWSGI's by stream. cmd.sh therefore creates a pipe that a reader tags
``[django]`` on the container's stdout; this handler writes there when the pipe is open, and to
stderr anywhere else (manage.py on a laptop, the tests).
"""

import fcntl
import logging
import os
import stat
import sys

PIPE = "/run/dockerable/django.log"


def _open_pipe(path):
    """A line-buffered text stream on the pipe, or None when there is no pipe with a reader."""
    try:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            return None
        # Non-blocking open fails at once (ENXIO) when nothing reads the pipe, instead of hanging.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace")


class ContainerLogHandler(logging.StreamHandler):
    """StreamHandler on the container's Django log pipe, falling back to stderr."""

    def __init__(self, path=PIPE):
        super().__init__(_open_pipe(path) or sys.stderr)


# Django's LOGGING for the container (the role's release settings use it): every record of Django's
# and the app's through ContainerLogHandler, tagged [django], INFO and above.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "{levelname} {name}: {message}", "style": "{"}},
    "handlers": {"container": {"class": "dockerable.logging.ContainerLogHandler", "formatter": "plain"}},
    "root": {"handlers": ["container"], "level": "INFO"},
    "loggers": {"django": {"handlers": ["container"], "level": "INFO", "propagate": False}},
}

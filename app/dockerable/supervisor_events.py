#!/usr/bin/env python3
"""supervisord event listener: tags program output, and stops the container when a program dies.

supervisord hands every chunk a program writes to this listener as a PROCESS_LOG event. Each
complete line is written to the container's stdout or stderr (supervisord's own, so Docker collects
it) with a tag saying which program and stream it came from:

    nginx  stdout -> [nginx-access]     uwsgi stdout, stderr -> [uwsgi]
    nginx  stderr -> [nginx-error]      any other program -> [its name], e.g. [acme]

On PROCESS_STATE_FATAL (a program that could not be started, or kept dying, and that supervisord
gave up on) it asks supervisord to shut down, so that the container exits instead of serving 502s.
Runs with the system Python, as the user dockerable-events; uses the standard library and supervisor's.
"""

import os
import signal
import sys
import traceback

from supervisor import childutils

TAGS = {
    ("nginx", "stdout"): "nginx-access",
    ("nginx", "stderr"): "nginx-error",
    ("uwsgi", "stdout"): "uwsgi",
    ("uwsgi", "stderr"): "uwsgi",
}


def parse_tokens(line):
    """'a:1 b:2' -> {'a': '1', 'b': '2'}"""
    return dict(token.split(":", 1) for token in line.split())


class Forwarder:
    """Writes tagged lines to the container's stdout and stderr, through the pipes that cmd.sh made
    for this listener (it runs as an unprivileged user, dockerable-events)."""

    def __init__(self):
        self.streams = {
            "stdout": open("/run/dockerable/container.out", "wb", buffering=0),  # noqa: SIM115
            "stderr": open("/run/dockerable/container.err", "wb", buffering=0),  # noqa: SIM115
        }
        self.partial = {}

    def write(self, channel, tag, data):
        """Forward the complete lines in data; keep an unfinished last line for the next chunk."""
        key = (tag, channel)
        data = self.partial.pop(key, b"") + data
        *lines, rest = data.split(b"\n")
        if rest:
            self.partial[key] = rest
        if lines:
            prefix = f"[{tag}] ".encode()
            self.streams[channel].write(b"".join(prefix + line + b"\n" for line in lines))

    def say(self, message):
        self.write("stderr", "supervisord", f"{message}\n".encode())


def handle(forwarder, headers, payload):
    event = headers["eventname"]
    head, _, data = payload.partition(b"\n")
    fields = parse_tokens(head.decode())
    name = fields.get("processname", "?")
    if event.startswith("PROCESS_LOG_"):
        channel = fields.get("channel", "stdout")
        forwarder.write(channel, TAGS.get((name, channel), name), data)
    elif event == "PROCESS_STATE_FATAL":
        forwarder.say(f"{name} could not be kept running (FATAL): stopping the container")
        # Through supervisord's socket (its group is this listener's): supervisord shuts down, and
        # the container with it.
        childutils.getRPCInterface(os.environ).supervisor.shutdown()


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    forwarder = Forwarder()
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        header_line = stdin.readline()
        if not header_line:
            return
        headers = parse_tokens(header_line.decode())
        payload = stdin.read(int(headers["len"]))
        try:
            handle(forwarder, headers, payload)
        except Exception:  # keep listening: a lost line is better than a stalled supervisord
            forwarder.say("event listener error: " + traceback.format_exc().replace("\n", " | "))
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    main()

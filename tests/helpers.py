"""Shared helpers for the tests: running Docker, and talking HTTP(S) to a container by its address."""

import json
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parent.parent


def docker(*args, check=True, timeout=600, **kwargs):
    """Run the docker CLI; return the CompletedProcess (text mode)."""
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=timeout, **kwargs)


def inspect(name, template):
    return docker("inspect", "-f", template, name).stdout.strip()


def container_ip(name, network):
    return inspect(name, f"{{{{(index .NetworkSettings.Networks {json.dumps(network)}).IPAddress}}}}")


def is_running(name):
    return inspect(name, "{{.State.Running}}") == "true"


def logs(name):
    """(stdout, stderr) of a container, kept apart."""
    result = docker("logs", name)
    return result.stdout, result.stderr


def http(method, url, host, **kwargs):
    """A request with an explicit Host header, no redirects followed, TLS not verified."""
    pool = urllib3.PoolManager(cert_reqs="CERT_NONE", retries=False, timeout=10)
    headers = {"Host": host, **kwargs.pop("headers", {})}
    return pool.request(method, url, headers=headers, redirect=False, **kwargs)


def https(path, address, name, **kwargs):
    """GET https://name/path, connecting to address, with SNI and Host set to name."""
    pool = urllib3.HTTPSConnectionPool(
        address,
        443,
        server_hostname=name,
        cert_reqs="CERT_NONE",
        assert_hostname=False,
        retries=False,
        timeout=10,
    )
    return pool.request("GET", path, headers={"Host": name}, redirect=False, **kwargs)


def peer_certificate(address, name, port=443):
    """The certificate (DER) and TLS version a server presents for name (SNI)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        return tls.getpeercert(binary_form=True), tls.version()


def wait_until_serving(name, address, host, timeout=90, scheme="http"):
    """Poll /healthz until it answers (any status) while the container runs; return the response."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        if not is_running(name):
            out, err = logs(name)
            raise AssertionError(f"container {name} exited while starting:\n{out}\n{err}")
        try:
            if scheme == "https":
                return https("/healthz", address, host)
            return http("GET", f"http://{address}/healthz", host)
        except urllib3.exceptions.HTTPError as error:
            last_error = error
        time.sleep(0.5)
    out, err = logs(name)
    raise AssertionError(f"{name} did not answer /healthz within {timeout} s ({last_error}):\n{out}\n{err}")


def wait_until_exited(name, timeout=60):
    """Wait for a container to stop; return its exit code."""
    result = docker("wait", name, timeout=timeout)
    return int(result.stdout.strip())


def python_with_settings(image, settings_dir, env, *args):
    """Run python in the image as uWSGI's user, with an environment's settings package mounted where the
    role mounts a release's (env: unused, kept for readability at the call sites)."""
    return docker(
        "run", "--rm", "--user", "django",
        "--volume", f"{settings_dir}:/opt/dockerable/python/dockerable_release:ro",
        "--env", "DJANGO_SETTINGS_MODULE=dockerable_release.settings",
        image, "python", *args,
        check=False,
    )  # fmt: skip


class Load:
    """A light constant load on a site while a block runs: GET /healthz (a new connection each time),
    from a few threads. After the block: .outcomes (Counter of 'ok' or the error) and .releases
    (Counter of the releases that answered)."""

    def __init__(self, url, host, threads=3, pause=0.02):
        self.url, self.host, self.pause = url, host, pause
        self.stopping = threading.Event()
        self.samples = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        pool = urllib3.PoolManager(cert_reqs="CERT_NONE", retries=False, timeout=10, maxsize=1)
        while not self.stopping.is_set():
            try:
                response = pool.request("GET", self.url, headers={"Host": self.host, "Connection": "close"})
                if response.status == 200:
                    self.samples.append(("ok", json.loads(response.data)["release"]))
                else:
                    self.samples.append((f"HTTP {response.status}", None))
            except urllib3.exceptions.HTTPError as error:
                self.samples.append((type(error).__name__, None))
            self.stopping.wait(self.pause)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)

    @property
    def outcomes(self):
        return Counter(outcome for outcome, _ in self.samples)

    @property
    def releases(self):
        return Counter(release for _, release in self.samples if release)

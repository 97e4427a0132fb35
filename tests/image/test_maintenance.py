"""Maintenance mode: while /etc/dockerable/maintenance/on exists, nginx answers the site with 503
and app/dockerable/maintenance/503.html, except the health checks and the ACME challenges; the flag takes
effect at once both ways, without a reload."""

import json
import textwrap

import pytest
import urllib3

from conftest import mount
from helpers import ROOT, docker, http, https, wait_until_serving

FLAG = "/etc/dockerable/maintenance/on"
PAGE = (ROOT / "app/dockerable/maintenance/503.html").read_bytes()


def set_maintenance(name, on):
    # As an operator of the bare image would (the role bind-mounts the directory instead).
    command = f"mkdir -p {FLAG.rsplit('/', 1)[0]} && touch {FLAG}" if on else f"rm {FLAG}"
    docker("exec", name, "sh", "-c", command)


def assert_maintenance_page(response, path):
    assert response.status == 503, path
    assert response.headers["Retry-After"] == "120", path
    assert response.headers["Cache-Control"] == "no-store", path
    assert response.headers["Content-Type"] == "text/html; charset=utf-8", path
    assert response.data == PAGE, path


def put_challenge(name, token, content):
    docker(
        "exec", name, "sh", "-c",
        f"mkdir -p /var/www/acme/.well-known/acme-challenge && "
        f"printf {content} > /var/www/acme/.well-known/acme-challenge/{token}",
    )  # fmt: skip


def test_the_flag_closes_the_site_but_not_health_checks_or_challenges(site):
    name, address = site
    nginx_pid = docker("exec", name, "cat", "/run/nginx.pid").stdout
    assert nginx_pid.strip().isdigit()
    assert http("GET", f"http://{address}/", "site.test").status == 200
    put_challenge(name, "token-maintenance", "challenge-content")

    set_maintenance(name, True)
    for path in ("/", "/admin/login/", "/static/pages/site.css", "/media/anything"):
        assert_maintenance_page(http("GET", f"http://{address}{path}", "site.test"), path)
    # A form sent during maintenance gets the page too (not 405: nginx serves files to GET only).
    assert_maintenance_page(http("POST", f"http://{address}/admin/login/", "site.test", fields={"a": "b"}), "POST")
    healthz = http("GET", f"http://{address}/healthz", "site.test")
    assert healthz.status == 200
    assert json.loads(healthz.data)["database"] is True
    ping = http("GET", f"http://{address}/ping", "site.test")
    assert ping.status == 200
    assert ping.data.startswith(b"pong")
    challenge = http("GET", f"http://{address}/.well-known/acme-challenge/token-maintenance", "site.test")
    assert (challenge.status, challenge.data) == (200, b"challenge-content")
    # The default server still answers an unknown name with nothing.
    with pytest.raises(urllib3.exceptions.ProtocolError):
        http("GET", f"http://{address}/", "other.test")
    # A 503 that Django sends (database unreachable) passes through as Django wrote it.
    mode = docker("exec", name, "stat", "-c", "%a", "/app/data/db.sqlite3").stdout.strip()
    docker("exec", name, "chmod", "000", "/app/data/db.sqlite3")
    try:
        down = http("GET", f"http://{address}/healthz", "site.test")
    finally:
        docker("exec", name, "chmod", mode, "/app/data/db.sqlite3")
    assert down.status == 503
    assert json.loads(down.data)["status"] == "unavailable"
    assert "Retry-After" not in down.headers

    set_maintenance(name, False)
    assert http("GET", f"http://{address}/", "site.test").status == 200
    static = http("GET", f"http://{address}/static/pages/site.css", "site.test")
    assert static.status == 200
    assert static.headers["Cache-Control"] == "max-age=604800"
    assert "Retry-After" not in static.headers
    # Neither the flag nor its removal restarted or reloaded nginx.
    assert docker("exec", name, "cat", "/run/nginx.pid").stdout == nginx_pid


# The loopback HTTPS listener (127.0.0.1:8443), as the checks inside the container reach it.
LOOPBACK_GET = textwrap.dedent("""\
    import http.client, ssl
    connection = http.client.HTTPSConnection("127.0.0.1", 8443, context=ssl._create_unverified_context())
    connection.request("GET", "/", headers={"Host": "site.test"})
    response = connection.getresponse()
    print(response.status, response.getheader("Retry-After"))
""")


def test_over_https_too(image, containers, sqlite_env):
    """TLS_MODE=letsencrypt (with its temporary self-signed certificate): the HTTPS site closes,
    while plain HTTP still redirects to it and still answers ACME challenges."""
    env_dir, module = sqlite_env
    name = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        env={"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test", "TLS_MODE": "letsencrypt"},
    )
    address = containers.address(name)
    wait_until_serving(name, address, "site.test", scheme="https")
    assert https("/admin/login/", address, "site.test").status == 200
    put_challenge(name, "token-tls", "tls-content")

    set_maintenance(name, True)
    for path in ("/", "/admin/login/", "/static/pages/site.css"):
        assert_maintenance_page(https(path, address, "site.test"), path)
    assert https("/healthz", address, "site.test").status == 200
    assert docker("exec", name, "/usr/bin/python3", "-c", LOOPBACK_GET).stdout.split() == ["503", "120"]
    assert http("GET", f"http://{address}/admin/login/", "site.test").status == 301
    challenge = http("GET", f"http://{address}/.well-known/acme-challenge/token-tls", "site.test")
    assert (challenge.status, challenge.data) == (200, b"tls-content")

    set_maintenance(name, False)
    assert https("/admin/login/", address, "site.test").status == 200

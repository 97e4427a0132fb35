"""The image serves the site: nginx in front, uWSGI behind it on a Unix socket, static files by nginx."""

import json
import time

import pytest
import urllib3

from conftest import mount
from helpers import ROOT, docker, http, inspect, logs, wait_until_serving


def test_home_page_goes_through_nginx_to_uwsgi(site, image):
    name, address = site
    response = http("GET", f"http://{address}/", "site.test")
    assert response.status == 200
    assert response.headers["Server"] == "nginx"
    body = response.data.decode()
    release = inspect(image, '{{index .Config.Labels "io.django-dockerable.release"}}')
    assert f'<code id="release">{release}</code>' in body
    assert f'<code id="host">{inspect(name, "{{.Config.Hostname}}")}</code>' in body
    # Django's own security headers, set once.
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_uwsgi_listens_only_on_its_unix_socket(site):
    name, _ = site
    mode = docker("exec", name, "stat", "-c", "%a %U %G %F", "/run/uwsgi/app.sock").stdout.split()
    assert mode == ["660", "django", "dockerable-socket", "socket"]
    # The only TCP listeners in the container are nginx's: port 80 (0x0050) on every address, and
    # 8080 (0x1F90) on the loopback for checks from inside; Docker's embedded DNS (127.0.0.11,
    # "0B00007F") is the engine's, not the image's.
    listening = docker(
        "exec", name, "sh", "-c", "awk '$4 == \"0A\" {print $2}' /proc/net/tcp /proc/net/tcp6"
    ).stdout.split()
    assert {entry for entry in listening if not entry.startswith("0B00007F:")} == {"00000000:0050", "0100007F:1F90"}


def test_uwsgi_socket_backlog_is_the_configured_one(site):
    # A backlog of 0 (what `listen = $(UWSGI_LISTEN)` in uwsgi.ini silently gives) makes nginx
    # answer 502 as soon as more requests arrive than uWSGI has threads.
    name, _ = site
    expected = "[uwsgi] your server socket listen backlog is limited to 100 connections"
    deadline = time.monotonic() + 30  # uWSGI's lines reach the log once supervisord's listener runs
    while expected not in (output := "".join(logs(name))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert expected in output


def test_static_file_is_served_by_nginx(site):
    _, address = site
    response = http("GET", f"http://{address}/static/pages/site.css", "site.test")
    assert response.status == 200
    assert response.data == (ROOT / "app/pages/static/pages/site.css").read_bytes()
    assert response.headers["Content-Type"] == "text/css"
    # Set by nginx's /static/ location only: Django never saw this request.
    assert response.headers["Cache-Control"] == "max-age=604800"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_admin_static_files_were_collected_at_build_time(site):
    _, address = site
    assert http("GET", f"http://{address}/static/admin/css/base.css", "site.test").status == 200
    assert http("GET", f"http://{address}/admin/login/", "site.test").status == 200


def test_healthz_on_sqlite(site, image):
    _, address = site
    response = http("GET", f"http://{address}/healthz", "site.test")
    assert response.status == 200
    body = json.loads(response.data)
    assert body["status"] == "ok"
    assert body["database"] is True
    assert body["release"] == inspect(image, '{{index .Config.Labels "io.django-dockerable.release"}}')


def test_the_page_shows_the_clients_address(site, network):
    _, address = site
    body = http("GET", f"http://{address}/", "site.test").data.decode()
    gateway = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", network).stdout.strip()
    assert f'<code id="client">{gateway}</code>' in body  # this machine, as the container sees it


def test_docker_healthcheck_reports_healthy(site):
    name, _ = site
    result = docker("exec", name, "/usr/bin/python3", "/opt/dockerable/healthcheck.py", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"database": true' in result.stdout


def test_the_database_is_not_served_as_media(site):
    name, address = site
    docker("exec", name, "test", "-f", "/app/data/db.sqlite3")
    assert http("GET", f"http://{address}/media/../data/db.sqlite3", "site.test").status in (400, 404)
    assert http("GET", f"http://{address}/media/db.sqlite3", "site.test").status == 404


def test_a_name_the_site_does_not_serve_gets_no_answer(site, image, containers, sqlite_env):
    """The default server closes the connection (444) for any other Host, static files included;
    NGINX_EXTRA_NAMES adds names (not in the certificate)."""
    _, address = site
    assert http("GET", f"http://{address}/static/pages/site.css", "site.test").status == 200
    for path in ("/", "/static/pages/site.css", "/healthz"):
        with pytest.raises(urllib3.exceptions.ProtocolError):
            http("GET", f"http://{address}{path}", "other.test")
    env_dir, module = sqlite_env
    name = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        env={"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test", "NGINX_EXTRA_NAMES": ".internal.test"},
    )
    extra = containers.address(name)
    wait_until_serving(name, extra, "site.test")
    assert http("GET", f"http://{extra}/static/pages/site.css", "web1.internal.test").status == 200
    with pytest.raises(urllib3.exceptions.ProtocolError):
        http("GET", f"http://{extra}/static/pages/site.css", "other.test")


def _uwsgi_recycling(name):
    """(UWSGI_MAX_REQUESTS, max-requests-delta) as supervisord (pid 1, started by cmd.sh) hands them
    to uWSGI. (uWSGI's own /proc/<pid>/environ is overwritten by its process titles.)"""
    environ = docker("exec", name, "cat", "/proc/1/environ").stdout.split("\0")
    values = dict(entry.split("=", 1) for entry in environ if "=" in entry)
    return values["UWSGI_MAX_REQUESTS"], values["DOCKERABLE_UWSGI_MAX_REQUESTS_DELTA"]


def test_workers_are_not_recycled_by_default_and_staggered_when_they_are(site, image, containers, sqlite_env):
    """Workers recycled all at once leave the site without one for a moment: recycling is off by
    default, and when asked for, worker N's limit is UWSGI_MAX_REQUESTS + N * delta."""
    name, _ = site
    assert _uwsgi_recycling(name) == ("0", "0")
    env_dir, module = sqlite_env
    recycling = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        env={
            "DJANGO_SETTINGS_MODULE": module,
            "NGINX_SERVER_NAME": "site.test",
            "UWSGI_MAX_REQUESTS": "1000",
            "UWSGI_PROCESSES": "4",
        },
    )
    wait_until_serving(recycling, containers.address(recycling), "site.test")
    assert _uwsgi_recycling(recycling) == ("1000", "125")

"""Stopping, dying and logging: graceful stops, no half-alive container, every line tagged."""

import re
import time

from conftest import measure, mount
from helpers import docker, http, logs, wait_until_exited

GRACE = 45  # the stop grace period the role gives the container (stop_grace_period)


def test_docker_stop_is_graceful(site):
    name, _ = site
    started = time.monotonic()
    docker("stop", "--time", str(GRACE), name, timeout=GRACE + 30)
    elapsed = time.monotonic() - started
    code = int(docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout)
    assert code == 0, "killed instead of stopped (137 means SIGKILL after the grace period)"
    assert elapsed < GRACE
    out, _err = logs(name)
    assert "stopped: nginx (exit status 0)" in out
    assert "stopped: uwsgi (exit status 0)" in out
    measure(f"docker stop (graceful) took {elapsed:.1f} s")


def test_container_exits_when_the_app_cannot_import(image, containers, sqlite_env, tmp_path):
    env_dir, module = sqlite_env
    broken = tmp_path / "wsgi.py"
    broken.write_text("raise ImportError('this release is broken')\n")
    name = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        "--volume",
        f"{broken}:/app/project/wsgi.py:ro",
        env={"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test"},
    )
    started = time.monotonic()
    wait_until_exited(name, timeout=90)
    _out, err = logs(name)
    assert "this release is broken" in err
    assert "uwsgi could not be kept running (FATAL): stopping the container" in err
    measure(f"a release that cannot import exited after {time.monotonic() - started:.1f} s")


def test_every_line_is_tagged_with_its_program(site):
    name, address = site
    http("GET", f"http://{address}/", "site.test")
    http("GET", f"http://{address}/static/pages/missing.css", "site.test")  # nginx error log
    http("GET", f"http://{address}/no-such-page", "site.test")  # Django logs the 404
    docker(
        "exec", "--user", "django", name, "python", "-c", "import sys; print('x', file=sys.stderr)"
    )  # not through supervisord: must not appear
    time.sleep(1.5)  # nginx flushes its buffered access log every second
    out, err = logs(name)
    lines = [line for line in (out + err).splitlines() if line]
    untagged = [
        line
        for line in lines
        if not re.match(r"^\[(nginx-access|nginx-error|uwsgi|django|supervisord|cmd\.sh)\] ", line)
    ]
    assert untagged == []
    assert re.search(r'^\[nginx-access\] \S+ - - \[.*\] "GET / HTTP/1.1" 200 ', out, re.M)
    assert re.search(r"^\[nginx-error\] .*missing\.css", err, re.M)
    assert re.search(r"^\[uwsgi\] .*Starting uWSGI", err, re.M)
    assert re.search(r"^\[django\] .*Not Found: /no-such-page", out, re.M)
    assert re.search(r"^\[supervisord\] .*spawned: 'uwsgi'", out, re.M)


def test_uwsgi_workers_do_not_run_as_root(site):
    name, _ = site
    report = docker(
        "exec",
        name,
        "sh",
        "-c",
        "for p in /proc/[0-9]*; do "
        'c=$(tr "\\0" " " < $p/cmdline 2>/dev/null); '
        'u=$(awk "/^Uid:/ {print \\$2}" $p/status 2>/dev/null); '
        'echo "$u $c"; done',
    ).stdout
    uwsgi = [line for line in report.splitlines() if line.split(" ", 1)[-1].startswith("uwsgi")]
    assert len(uwsgi) >= 3  # the master and two workers
    assert all(line.split()[0] == "10001" for line in uwsgi), uwsgi
    nginx_workers = [line for line in report.splitlines() if "nginx: worker process" in line]
    assert nginx_workers
    assert all(line.split()[0] != "0" for line in nginx_workers), nginx_workers
    # Only supervisord and nginx's master run as root: the helpers that tag and copy log lines run
    # as nobody, the event listener as dockerable-events.
    root = [line.split(" ", 1)[-1] for line in report.splitlines() if line.split(" ", 1)[0] == "0"]
    assert all(re.match(r"(/usr/bin/python3 /usr/bin/supervisord|nginx: master|sh -c )", line) for line in root), root
    taggers = [line for line in report.splitlines() if line.split(" ", 1)[-1].startswith(("sed -u", "cat"))]
    assert len(taggers) == 4, report
    assert all(line.split()[0] == "65534" for line in taggers), taggers
    listener = [line for line in report.splitlines() if "supervisor_events.py" in line]
    assert len(listener) == 1 and listener[0].split()[0] not in ("0", "10001"), listener


def test_nginx_workers_reach_the_socket_and_nothing_else_of_the_app(site):
    """www-data (nginx's workers) is in the socket's group, not the app's: it cannot read
    secrets.json or the database directory, and the site still answers through the socket."""
    name, address = site
    as_nginx = ["exec", "--user", "www-data", name]
    assert docker(*as_nginx, "test", "-w", "/run/uwsgi/app.sock").returncode == 0
    assert (
        docker(*as_nginx, "cat", "/opt/dockerable/python/dockerable_release/secrets.json", check=False).returncode != 0
    )
    assert docker(*as_nginx, "ls", "/app/data", check=False).returncode != 0
    assert docker("exec", "--user", "django", name, "ls", "/app/data").stdout.strip() == "db.sqlite3"
    assert "django" not in docker(*as_nginx, "id", "-nG").stdout.split()
    assert http("GET", f"http://{address}/", "site.test").status == 200

"""The role's files rendered from sample inventories: content, modes, and no secret where it does not belong."""

import json
import os
import re
import secrets
import stat
import subprocess
import sys

import pytest
import yaml
from ansible_helpers import ansible_playbook

from helpers import python_with_settings

SECRET_KEY = secrets.token_urlsafe(50)
DB_PASSWORD = secrets.token_urlsafe(20)
EXTRA_SECRET = secrets.token_urlsafe(20)
ENV_SECRET = secrets.token_urlsafe(20)

STAGING = {
    "environment": "staging",
    "server_names": ["www.example.com", "example.com"],
    "tls_mode": "letsencrypt",
    "letsencrypt_email": "ops@example.com",
    "hsts_include_subdomains": True,
    "hsts_preload": True,
    "database_engine": "postgresql",
    "database_host": "db.example.com",
    "database_name": "site",
    "database_user": "site",
    "database_password": DB_PASSWORD,
    "secret_key": SECRET_KEY,
    "extra_secrets": {"smtp_password": EXTRA_SECRET},
    "env": {"SITE_COLOUR": "green", "WORKERS_HINT": 3},
    "secret_env": {"API_TOKEN": ENV_SECRET},
    "extra_settings": {"EMAIL_HOST": "smtp.example.com", "ADMINS": [["Ops", "ops@example.com"]], "X_DEBUG": False},
    "renew_extra_args": ["--no-random-sleep-on-renew"],
    "release": "0123456789ab",
    "uwsgi_processes": 4,
    "scheduled_commands": [
        {"name": "clearsessions", "schedule": "23 4 * * *", "command": "clearsessions"},
        {
            "name": "report",
            "schedule": "*/15 8-18 * * mon-fri",
            "command": "dumpdata 'pages.visit' --output /tmp/100%.json",
        },
    ],
}
# A single-host environment with the bundled PostgreSQL.
SINGLE = {
    "environment": "single",
    "server_names": ["single.example.com"],
    "database_engine": "postgresql",
    "database_bundled": True,
    "database_image": "postgres:17",
    "database_name": "site",
    "database_user": "site",
    "database_password": DB_PASSWORD,
    "secret_key": SECRET_KEY,
    "release": "0123456789ab",
}
LOCAL = {
    "environment": "local",
    "server_names": ["localhost"],
    "http_port": 8000,
    "secret_key": SECRET_KEY,
    "release": "0123456789ab",
}


def render(tmp_path, host, values, inventory=None):
    """Renders host's files with values (django_dockerable_ prefixes added); inventory: an
    inventory file's content (default: host alone)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    base = tmp_path / "srv"
    values = {key: value for key, value in values.items() if key != "base_dir"}
    cron = tmp_path / f"cron-{host}"
    variables = {f"django_dockerable_{key}": value for key, value in {**values, "base_dir": str(base)}.items()}
    # Role variables (vars/main.yml): only extra variables override them, also with an inventory.
    scheduled = ["-e", f"__django_dockerable_cron_file={cron}"]
    scheduled += ["-e", f"__django_dockerable_scheduled_cron_file={tmp_path / f'scheduled-{host}'}"]
    variables["ansible_python_interpreter"] = sys.executable
    variables_file = tmp_path / f"vars-{host}.json"
    variables_file.write_text(json.dumps(variables))
    source = ["-i", f"{host},", "-e", f"@{variables_file}"]
    if inventory:
        # The values as the whole inventory's variables, below each host's own.
        document = yaml.safe_load(inventory)
        document["all"]["vars"] = variables
        (tmp_path / "hosts.yml").write_text(json.dumps(document))
        source = ["-i", str(tmp_path / "hosts.yml")]
    result = ansible_playbook("tests/role/render.yml", *source, *scheduled, "-l", host, "-c", "local", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    return base / values["environment"], cron, result.stdout


def release_of(env_dir):
    """The directory of the one release rendered into an environment's directory."""
    (release,) = (env_dir / "releases").iterdir()
    return release


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    return render(tmp_path_factory.mktemp("staging"), "web1.example.com", STAGING)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return render(tmp_path_factory.mktemp("single"), "single.example.com", SINGLE)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return render(tmp_path_factory.mktemp("local"), "localhost", LOCAL)


def test_secrets_json_is_private_and_complete(staging):
    env_dir, _, _ = staging
    path = release_of(env_dir) / "settings/secrets.json"
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert (info.st_uid, info.st_gid) == (0, 10001)
    assert json.loads(path.read_text()) == {
        "django_secret_key": SECRET_KEY,
        "database_password": DB_PASSWORD,
        "smtp_password": EXTRA_SECRET,
        "environment": {"API_TOKEN": ENV_SECRET},
    }
    assert stat.S_IMODE((release_of(env_dir) / "settings").stat().st_mode) == 0o750


def test_no_secret_in_any_other_file_or_in_the_output(staging):
    env_dir, cron, output = staging
    files = [path for path in env_dir.rglob("*") if path.is_file() and path.name != "secrets.json"] + [cron]
    assert len(files) >= 4
    for path in files:
        text = path.read_text()
        for secret in (SECRET_KEY, DB_PASSWORD, EXTRA_SECRET, ENV_SECRET):
            assert secret not in text, path
    for secret in (SECRET_KEY, DB_PASSWORD, EXTRA_SECRET, ENV_SECRET):
        assert secret not in output  # even with --diff


def test_settings_module(staging):
    env_dir, _, _ = staging
    source = (release_of(env_dir) / "settings/settings.py").read_text()
    compile(source, "settings.py", "exec")
    assert 'PASSWORD": SECRETS["database_password"]' in source
    assert 'ALLOWED_HOSTS = ["www.example.com", "example.com"]' in source
    assert 'CSRF_TRUSTED_ORIGINS = ["https://www.example.com", "https://example.com"]' in source
    assert "SECURE_HSTS_SECONDS = 63072000" in source
    assert 'EMAIL_HOST = json.loads("\\"smtp.example.com\\"")' in source
    assert "from project.settings.base import *" in source


def test_settings_pass_django_deploy_checks_in_the_image(staging, image):
    """The rendered production-like settings, loaded by the real image: zero deploy warnings."""
    env_dir, _, _ = staging
    result = python_with_settings(
        image, release_of(env_dir) / "settings", "staging", "manage.py", "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    shell = python_with_settings(
        image, release_of(env_dir) / "settings", "staging", "-c",
        "import os; from django.conf import settings as s;"
        " print(s.ADMINS, s.DATABASES['default']['HOST'], s.X_DEBUG, os.environ['API_TOKEN'] == s.SECRETS.get('x', '')"
        " or len(os.environ['API_TOKEN']), 'environment' in s.SECRETS)",
    )  # fmt: skip
    # The secret environment reached the process (not the container's environment: see test_compose_file).
    assert shell.stdout.strip() == f"[['Ops', 'ops@example.com']] db.example.com False {len(ENV_SECRET)} False"


def test_compose_file(staging):
    env_dir, _, _ = staging
    release = release_of(env_dir).name
    path = env_dir / "releases" / release / "docker-compose.yml"
    compose = yaml.safe_load(path.read_text())
    # A project of its own, on the environment's network, publishing nothing: the edge reaches it.
    assert compose["name"] == f"django-dockerable-staging-{release}"
    assert compose["networks"] == {"default": {"name": "django-dockerable-staging_default", "external": True}}
    app = compose["services"]["app"]
    assert app["image"] == f"django-dockerable-staging/release:{release}"
    assert app["labels"]["io.django-dockerable.release"] == release
    assert app["container_name"] == f"django-dockerable-staging-{release}"
    assert app["restart"] == "unless-stopped"
    assert app["stop_grace_period"] == "45s"
    assert "ports" not in app and "mem_limit" not in app
    assert app["environment"] == {
        "RELEASE_ID": release,
        "DJANGO_SETTINGS_MODULE": "dockerable_release.settings",
        "NGINX_SERVER_NAME": "www.example.com example.com",
        "NGINX_CLIENT_MAX_BODY_SIZE": "10m",
        "NGINX_PROXY_PROTOCOL": "1",
        "TLS_MODE": "letsencrypt",
        "UWSGI_PROCESSES": "4",
        "UWSGI_THREADS": "2",
        "UWSGI_HARAKIRI": "60",
        "UWSGI_MAX_REQUESTS": "0",
        # django_dockerable_env, as text; django_dockerable_secret_env is not here (secrets.json).
        "SITE_COLOUR": "green",
        "WORKERS_HINT": "3",
    }
    # The release's own settings, beside its Compose file; the environment's volumes, shared.
    assert "./settings:/opt/dockerable/python/dockerable_release:ro" in app["volumes"]
    assert f"{env_dir}/letsencrypt:/etc/letsencrypt" in app["volumes"]
    assert f"{env_dir}/acme-webroot:/var/www/acme" in app["volumes"]
    assert f"{env_dir}/media:/app/media" in app["volumes"]
    assert app["logging"] == {"driver": "json-file", "options": {"max-file": "5", "max-size": "10m"}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_bundled_database(single):
    env_dir, _, output = single
    # In the environment's own project, beside the edge: it outlives every release.
    path = env_dir / "docker-compose.yml"
    compose = yaml.safe_load(path.read_text())
    edge, db = compose["services"]["edge"], compose["services"]["db"]
    assert edge["ports"] == ["0.0.0.0:80:80"]
    assert db["image"] == "postgres:17"
    assert db["environment"] == {
        "POSTGRES_DB": "site",
        "POSTGRES_USER": "site",
        "POSTGRES_PASSWORD_FILE": "/run/secrets/database_password",
    }
    assert "ports" not in db  # reached by the app only
    assert db["secrets"] == ["database_password"]
    assert db["volumes"] == ["database:/var/lib/postgresql/data"]
    assert compose["volumes"] == {"database": {"name": "django-dockerable-single-database"}}
    password_file = env_dir / "database/password"
    assert compose["secrets"] == {"database_password": {"file": str(password_file)}}
    # The password: in a root-only file and in secrets.json, nowhere else.
    assert password_file.read_text() == DB_PASSWORD
    info = password_file.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 0, 0o600)
    assert stat.S_IMODE(password_file.parent.stat().st_mode) == 0o700
    release = release_of(env_dir)
    assert json.loads((release / "settings/secrets.json").read_text())["database_password"] == DB_PASSWORD
    assert DB_PASSWORD not in path.read_text() and DB_PASSWORD not in output
    source = (release / "settings/settings.py").read_text()
    assert '"HOST": "db",' in source and '"PORT": 5432,' in source
    # Compose itself accepts the file.
    checked = subprocess.run(
        ["docker", "compose", "--file", str(path), "config", "--quiet"], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr


def test_the_edge_owns_the_ports_and_passes_connections_on(staging, image):
    """The environment's project: the edge publishes the ports and passes every connection, with the
    PROXY protocol, to the release named in upstream.conf (none before the first switch)."""
    env_dir, _, _ = staging
    compose = yaml.safe_load((env_dir / "docker-compose.yml").read_text())
    assert compose["name"] == "django-dockerable-staging"
    assert compose["networks"] == {"default": {"name": "django-dockerable-staging_default"}}
    edge = compose["services"]["edge"]
    assert re.fullmatch(r"django-dockerable-staging/edge:[0-9a-f]{12}", edge["image"])
    assert edge["container_name"] == "django-dockerable-staging-edge"
    assert edge["ports"] == ["0.0.0.0:80:80", "0.0.0.0:443:443"]
    # With Let's Encrypt, the edge answers ACME challenges from the environment's webroot until a
    # release serves (a host that its first deploy has not switched yet).
    assert edge["volumes"] == [f"{env_dir}/edge:/etc/dockerable-edge:ro", f"{env_dir}/acme-webroot:/var/www/acme:ro"]
    assert edge["stop_signal"] == "SIGQUIT"
    assert edge["command"][:2] == ["sh", "-c"] and "dockerable-acme-peers" in edge["command"][2]
    assert edge["environment"] == {"NGINX_ACME_PEERS": ""}
    nginx = (env_dir / "edge/nginx.conf").read_text()
    assert nginx.count("proxy_protocol on;") == 2 and "listen 443;" in nginx
    assert "listen 127.0.0.1:8081 proxy_protocol;" in nginx
    upstream = (env_dir / "edge/upstream.conf").read_text()
    assert "80 127.0.0.1:8081;" in upstream and "default 127.0.0.1:9;" in upstream
    assert "django-dockerable-staging-" not in upstream
    # nginx accepts it, as the edge runs it: in the image, with its stream module.
    command = edge["command"][2].replace("exec nginx", "nginx -t").replace(" -g 'daemon off;'", "")
    checked = subprocess.run(
        ["docker", "run", "--rm", "--volume", f"{env_dir}/edge:/etc/dockerable-edge:ro", image, "sh", "-c", command],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


def test_data_and_media_belong_to_the_app_user(staging):
    """The app writes both; nginx's workers (another user) read uploads from media/, never data/."""
    env_dir, _, _ = staging
    for name, mode in (("data", 0o750), ("media", 0o755)):
        info = (env_dir / name).stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (10001, 10001, mode)
    probe = env_dir / "media/.dockerable-media-probe"
    assert probe.read_text() == "django-dockerable media probe\n" and stat.S_IMODE(probe.stat().st_mode) == 0o644


def test_local_settings_use_sqlite_without_tls(local):
    env_dir, _, _ = local
    release = release_of(env_dir)
    source = (release / "settings/settings.py").read_text()
    assert '"ENGINE": "django.db.backends.sqlite3"' in source
    assert "SECURE_SSL_REDIRECT" not in source
    compose = yaml.safe_load((env_dir / "docker-compose.yml").read_text())
    assert compose["services"]["edge"]["ports"] == ["0.0.0.0:8000:80"]
    assert json.loads((release / "settings/secrets.json").read_text()) == {
        "django_secret_key": SECRET_KEY,
        "environment": {},
    }


def test_a_release_is_named_after_its_image_and_its_configuration(tmp_path):
    """<image tag>-<8 hex digits>: the same inputs give the same id; a change of configuration alone,
    a secret's included, gives a new release beside the first; release.json says what each is made of."""
    env_dir = render(tmp_path, "localhost", LOCAL)[0]
    release = release_of(env_dir).name
    assert re.fullmatch(r"0123456789ab-[0-9a-f]{8}", release)
    render(tmp_path, "localhost", LOCAL)
    assert release_of(env_dir).name == release
    changes = {
        "secret": {"secret_key": secrets.token_urlsafe(50)},
        "setting": {"extra_settings": {"SITE_TITLE": "Example"}},
        "workers": {"uwsgi_processes": 3},
        "image": {"release": "ba9876543210"},
    }
    names = {release}
    for change in changes.values():
        render(tmp_path, "localhost", {**LOCAL, **change})
        new = {path.name for path in (env_dir / "releases").iterdir()} - names
        assert len(new) == 1, (change, new)
        names |= new
    assert sorted(name.split("-")[0] for name in names) == ["0123456789ab"] * 4 + ["ba9876543210"]
    description = json.loads((env_dir / "releases" / release / "release.json").read_text())
    assert description["release"] == release
    assert description["image"] == "django-dockerable:0123456789ab"
    assert description["release_image"] == f"django-dockerable-local/release:{release}"
    assert description["configuration"] == release.split("-")[-1]

    # The host's ports belong to the environment's edge, not to a release: a new port is a new edge
    # (its image tag names its configuration), not a new release.
    edge_image = yaml.safe_load((env_dir / "docker-compose.yml").read_text())["services"]["edge"]["image"]
    render(tmp_path, "localhost", {**LOCAL, "http_port": 8001, "release": "ba9876543210"})
    assert {path.name for path in (env_dir / "releases").iterdir()} == names
    assert yaml.safe_load((env_dir / "docker-compose.yml").read_text())["services"]["edge"]["image"] != edge_image


def test_renewal_cron_file(staging, tmp_path):
    env_dir, cron, _ = staging
    text = cron.read_text()
    assert 'SHELL="/bin/bash"' in text
    match = re.search(r"^(\d+) (\d+),(\d+) \* \* \* root (.*)$", text, re.M)
    assert match, text
    minute, hour, second_hour, command = int(match[1]), int(match[2]), int(match[3]), match[4]
    assert 0 <= minute < 60 and 0 <= hour < 12 and second_hour == hour + 12
    assert command == f"{env_dir}/renew.sh"
    script = env_dir / "renew.sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    body = script.read_text()
    assert 'docker exec django-dockerable-staging-"$release" dockerable-tls renew "${renew_args[@]}"' in body
    assert "renew_args=(--no-random-sleep-on-renew)" in body
    assert f"status_file={env_dir}/renewal-status" in body
    lint = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout

    # The schedule is stable across runs, and chosen per host (the command names each run's directory).
    def schedule(cron_text):
        return re.search(r"^(\d+ \d+,\d+) \* \* \* root ", cron_text, re.M)[1]

    again, other = (
        schedule(render(tmp_path / name, host, STAGING)[1].read_text())
        for name, host in (("again", "web1.example.com"), ("other", "web2.example.com"))
    )
    assert again == schedule(text)
    assert other != schedule(text)


def test_scheduled_commands_cron_file_on_the_first_host_only(tmp_path):
    """Each scheduled command is a cron line that runs manage.sh with its name and its arguments,
    quoted for the shell that cron runs it with (a % escaped: cron reads it as a line break); only
    the environment's first host has the file."""
    inventory = "all:\n  children:\n    staging:\n      hosts:\n        web1.example.com:\n        web2.example.com:\n"
    for host in ("web1", "web2"):
        render(tmp_path / host, f"{host}.example.com", STAGING, inventory)
    env_dir = tmp_path / "web1/srv/staging"
    assert not (tmp_path / "web2/scheduled-web2.example.com").exists()
    text = (tmp_path / "web1/scheduled-web1.example.com").read_text()
    assert "\nSHELL=/bin/bash\n" in text
    lines = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert lines == [
        f"23 4 * * * root {env_dir}/manage.sh clearsessions clearsessions",
        f"*/15 8-18 * * mon-fri root {env_dir}/manage.sh report dumpdata pages.visit --output /tmp/100\\%.json",
    ]
    script = env_dir / "manage.sh"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    body = script.read_text()
    assert 'docker exec --user django django-dockerable-staging-"$release" python manage.py "$@"' in body
    assert "flock --nonblock 9" in body
    lint = subprocess.run(["shellcheck", "-s", "bash", str(script)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout


@pytest.fixture(autouse=True)
def _root_only():
    if os.geteuid() != 0:
        pytest.skip("writes files owned by root and group 10001")


PEERS_INVENTORY = """
all:
  children:
    staging:
      hosts:
        web1.example.com: {ansible_host: 192.0.2.11}
        web2.example.com: {django_dockerable_acme_address: web2.internal, django_dockerable_http_port: 8080}
        web3.example.com: {ansible_host: "2001:db8::3"}
        other.example.com: {django_dockerable_server_names: [other.example.com]}
"""


def test_each_host_asks_the_hosts_that_serve_the_same_names_for_acme_tokens(tmp_path):
    """The release's NGINX_ACME_PEERS lists the environment's other hosts with the same names, by
    django_dockerable_acme_address, else ansible_host, else the inventory name, at their HTTP port."""
    env_dir, _, _ = render(tmp_path, "web1.example.com", STAGING, inventory=PEERS_INVENTORY)
    environment = yaml.safe_load((release_of(env_dir) / "docker-compose.yml").read_text())["services"]["app"][
        "environment"
    ]
    assert environment["NGINX_ACME_PEERS"] == "web2.internal:8080 [2001:db8::3]:80"
    # Without Let's Encrypt, nobody is asked.
    off = {**STAGING, "tls_mode": "off"}
    env_dir, _, _ = render(tmp_path / "off", "web1.example.com", off, inventory=PEERS_INVENTORY)
    environment = yaml.safe_load((release_of(env_dir) / "docker-compose.yml").read_text())["services"]["app"][
        "environment"
    ]
    assert "NGINX_ACME_PEERS" not in environment


S3_ACCESS_KEY = "AK" + secrets.token_hex(8).upper()
S3_SECRET_KEY = secrets.token_urlsafe(30)
# Uploads in an object store, served through each host's nginx (one origin), and at the store's own
# signed URLs, Amazon S3 addressed by the bucket's name.
S3_NGINX = {
    **LOCAL,
    "environment": "objects",
    "media_storage": "s3",
    "media_s3_endpoint_url": "http://127.0.0.1:9",
    "media_s3_bucket": "site-uploads",
    "media_s3_addressing_style": "path",
    "media_s3_location": "objects/uploads",
    "media_s3_access_key": S3_ACCESS_KEY,
    "media_s3_secret_key": S3_SECRET_KEY,
    "media_s3_serve": "nginx",
}
S3_STORE = {
    **S3_NGINX,
    "media_s3_endpoint_url": "",
    "media_s3_region": "eu-west-1",
    "media_s3_addressing_style": "auto",
    "media_s3_location": "",
    "media_s3_serve": "store",
}


def test_uploads_in_an_object_store(tmp_path, image):
    """The store's keys are in secrets.json only; the release's settings make it Django's default
    storage (the project's static files storage kept); nginx is given the store's URL of the uploads
    with serve nginx (and the URLs are the site's /media/), none with serve store (signed URLs of the
    store); a store out of reach is named by the check that /healthz runs."""
    env_dir, _, output = render(tmp_path / "nginx", "localhost", S3_NGINX)
    release = release_of(env_dir)
    assert json.loads((release / "settings/secrets.json").read_text())["media_s3_access_key"] == S3_ACCESS_KEY
    compose = yaml.safe_load((release / "docker-compose.yml").read_text())
    environment = compose["services"]["app"]["environment"]
    assert environment["NGINX_MEDIA_PROXY"] == "http://127.0.0.1:9/site-uploads/objects/uploads/"
    for path in [*env_dir.rglob("*.py"), *env_dir.rglob("*.yml")]:
        assert S3_SECRET_KEY not in path.read_text() and S3_ACCESS_KEY not in path.read_text(), path
    assert S3_SECRET_KEY not in output and S3_ACCESS_KEY not in output
    assert not (env_dir / "media/.dockerable-media-probe").exists()
    shell = python_with_settings(
        image, release / "settings", "objects", "-c",
        "from django.conf import settings; from django.core.files.storage import default_storage, storages;"
        " print(type(storages['default']).__name__, settings.STORAGES['staticfiles']['BACKEND']);"
        " print(default_storage.url('photos/a b.png')); print(storages['default'].check())",
    )  # fmt: skip
    lines = shell.stdout.splitlines()
    assert lines[0] == "MediaStorage django.contrib.staticfiles.storage.StaticFilesStorage", shell.stdout + shell.stderr
    assert lines[1] == "/media/photos/a%20b.png"
    assert lines[2].startswith("bucket 'site-uploads' at http://127.0.0.1:9: Could not connect to the endpoint URL")

    env_dir, _, _ = render(tmp_path / "store", "localhost", S3_STORE)
    release = release_of(env_dir)
    assert (
        "NGINX_MEDIA_PROXY"
        not in yaml.safe_load((release / "docker-compose.yml").read_text())["services"]["app"]["environment"]
    )
    shell = python_with_settings(
        image, release / "settings", "objects", "-c",
        "from django.core.files.storage import default_storage; print(default_storage.url('photos/a.png'))",
    )  # fmt: skip
    url = shell.stdout.strip()
    assert url.startswith("https://site-uploads.s3.amazonaws.com/photos/a.png?") or url.startswith(
        "https://site-uploads.s3.eu-west-1.amazonaws.com/photos/a.png?"
    ), shell.stdout + shell.stderr
    assert "X-Amz-Signature=" in url and S3_SECRET_KEY not in url

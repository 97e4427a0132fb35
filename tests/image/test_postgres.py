"""/healthz against a real PostgreSQL: 503 when it cannot be reached, 200 when it can."""

import json
import textwrap

from conftest import SETTINGS_HEAD, mount, secret_key, write_environment
from helpers import docker, http, wait_until_serving

DATABASE_SETTINGS = textwrap.dedent("""\
    ALLOWED_HOSTS = ["site.test"]
    DATABASES = {{
        "default": {{
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "{host}",
            "PORT": {port},
            "NAME": SECRETS["database_name"],
            "USER": SECRETS["database_user"],
            "PASSWORD": SECRETS["database_password"],
            "OPTIONS": {{"connect_timeout": 2}},
        }}
    }}
""")


def start(image, containers, tmp_path, host, port, user, password, database):
    env_dir, module = write_environment(
        tmp_path,
        "pgtest",
        SETTINGS_HEAD + DATABASE_SETTINGS.format(host=host, port=port),
        {
            "django_secret_key": secret_key(),
            "database_name": database,
            "database_user": user,
            "database_password": password,
        },
    )
    name = containers.run(
        image,
        *mount(env_dir, "pgtest"),
        env={"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test"},
    )
    address = containers.address(name)
    return name, address, wait_until_serving(name, address, "site.test")


def test_healthz_503_when_postgres_is_unreachable(image, containers, tmp_path):
    # Nothing listens there: a closed port on a name that resolves (the container itself).
    _, address, response = start(image, containers, tmp_path, "localhost", 5999, "app", "x", "app")
    assert response.status == 503
    body = json.loads(response.data)
    assert body["database"] is False
    assert body["status"] == "unavailable"
    # /ping never touches the database: the app itself still answers.
    ping = http("GET", f"http://{address}/ping", "site.test")
    assert ping.status == 200
    assert ping.data.decode().startswith("pong ")


def test_healthz_200_and_pages_work_with_postgres(image, containers, tmp_path, postgres):
    host, user, password, database = postgres
    name, address, response = start(image, containers, tmp_path, host, 5432, user, password, database)
    assert response.status == 200
    assert json.loads(response.data)["database"] is True
    docker("exec", "--user", "django", name, "python", "manage.py", "migrate", "--noinput")
    first = http("GET", f"http://{address}/", "site.test")
    second = http("GET", f"http://{address}/", "site.test")
    assert first.status == second.status == 200
    count = int(second.data.decode().split('<strong id="visit-count">')[1].split("<")[0])
    assert count >= 2

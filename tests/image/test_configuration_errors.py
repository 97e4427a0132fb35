"""A bad environment stops the container at start, with a message that names what to fix."""

import pytest

from conftest import SETTINGS_HEAD, mount, secret_key, write_environment
from helpers import docker, logs, wait_until_exited

GOOD = {"DJANGO_SETTINGS_MODULE": "dockerable_release.settings", "NGINX_SERVER_NAME": "site.test"}


def start_and_wait(image, containers, env_dir, env, name="sqlitetest"):
    container = containers.run(image, *mount(env_dir, name), env=env)
    code = wait_until_exited(container)
    out, err = logs(container)
    return code, out + err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"DJANGO_SETTINGS_MODULE": None}, "DJANGO_SETTINGS_MODULE is required"),
        ({"NGINX_SERVER_NAME": None}, "NGINX_SERVER_NAME is required"),
        ({"NGINX_SERVER_NAME": "   "}, "NGINX_SERVER_NAME is required"),
        ({"UWSGI_PROCESSES": "abc"}, "UWSGI_PROCESSES must be a whole number from 1 to 512 (got 'abc')"),
        ({"UWSGI_PROCESSES": "0"}, "UWSGI_PROCESSES must be a whole number from 1 to 512 (got '0')"),
        ({"UWSGI_PROCESSES": "513"}, "UWSGI_PROCESSES must be a whole number from 1 to 512 (got '513')"),
        ({"UWSGI_THREADS": "-1"}, "UWSGI_THREADS must be a whole number from 1 to 512"),
        ({"UWSGI_HARAKIRI": "1.5"}, "UWSGI_HARAKIRI must be a whole number from 0 to 86400"),
        ({"UWSGI_BUFFER_SIZE": "100"}, "UWSGI_BUFFER_SIZE must be a whole number from 4096 to 1048576"),
        ({"NGINX_CLIENT_MAX_BODY_SIZE": "10 MB"}, "NGINX_CLIENT_MAX_BODY_SIZE must be a size"),
        ({"NGINX_PROXY_PROTOCOL": "on"}, "NGINX_PROXY_PROTOCOL must be 0 or 1 (got 'on')"),
        ({"TLS_MODE": "ssl"}, "TLS_MODE must be off, letsencrypt or offload (got 'ssl')"),
        ({"USE_SSL": "maybe"}, "USE_SSL must be true or false"),
        ({"USE_SSL": "1", "TLS_MODE": "off"}, "USE_SSL and TLS_MODE are both set"),
        ({"TLS_MODE": "offload"}, "NGINX_TRUSTED_PROXIES is required with TLS_MODE=offload"),
        ({"TLS_MODE": "offload", "NGINX_TRUSTED_PROXIES": "lb.example"}, "NGINX_TRUSTED_PROXIES: 'lb.example'"),
        ({"NGINX_TRUSTED_PROXIES": "10.0.0.0/8"}, "NGINX_TRUSTED_PROXIES is used only with TLS_MODE=offload"),
        ({"NGINX_ACME_PEERS": "web2.site.test"}, "NGINX_ACME_PEERS is used only with TLS_MODE=letsencrypt"),
        (
            {"NGINX_ACME_PEERS": "http://web2.site.test", "TLS_MODE": "letsencrypt"},
            "NGINX_ACME_PEERS: 'http://web2.site.test' is not host[:port]",
        ),
        (
            {"NGINX_ACME_PEERS": "web2.site.test:70000", "TLS_MODE": "letsencrypt"},
            "NGINX_ACME_PEERS: 'web2.site.test:70000': the port must be 1-65535",
        ),
        ({"EMAIL_ADDRESS": "ops@site.test"}, "EMAIL_ADDRESS is used only with TLS_MODE=letsencrypt (or USE_SSL=1)"),
        ({"USE_SSL": "1", "EMAIL_ADDRESS": "ops"}, "EMAIL_ADDRESS must be an e-mail address (got 'ops')"),
        (
            {"TLS_MODE": "letsencrypt", "ACME_DIRECTORY": "https://acme.site.test/dir"},
            "ACME_DIRECTORY is used only with EMAIL_ADDRESS",
        ),
        (
            {"USE_SSL": "1", "EMAIL_ADDRESS": "ops@site.test", "ACME_DIRECTORY": "acme.site.test"},
            "ACME_DIRECTORY must be an https:// URL (got 'acme.site.test')",
        ),
        ({"NGINX_EXTRA_NAMES": "a/b"}, "NGINX_EXTRA_NAMES: 'a/b' is not a host name, .domain, IP address or *"),
        ({"NGINX_SERVER_NAME": "bad_name!"}, "NGINX_SERVER_NAME: 'bad_name!' is not a valid host name"),
        ({"NGINX_SERVER_NAME": "*.site.test", "TLS_MODE": "letsencrypt"}, "wildcard names cannot get a certificate"),
        ({"DJANGO_SETTINGS_MODULE": "project/settings"}, "DJANGO_SETTINGS_MODULE must be a dotted Python module path"),
        (
            {"DJANGO_SETTINGS_MODULE": "project.settings.missing.settings"},
            "DJANGO_SETTINGS_MODULE=project.settings.missing.settings cannot be loaded: ModuleNotFoundError",
        ),
    ],
)
def test_bad_variable_exits_naming_it(image, containers, sqlite_env, change, expected):
    env_dir, _ = sqlite_env
    env = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    code, output = start_and_wait(image, containers, env_dir, env)
    assert code != 0
    assert expected in output
    assert "supervisord" not in output  # stopped before anything started


def test_missing_secret_key_is_named(image, containers, tmp_path):
    env_dir, module = write_environment(
        tmp_path, "nosecret", SETTINGS_HEAD + 'ALLOWED_HOSTS = ["site.test"]\n', {"other": "x"}
    )
    code, output = start_and_wait(
        image,
        containers,
        env_dir,
        {"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test"},
        name="nosecret",
    )
    assert code != 0
    assert "secrets.json lacks the key(s): django_secret_key" in output


def test_secrets_unreadable_by_the_app_user_is_reported(image, containers, tmp_path):
    env_dir, module = write_environment(
        tmp_path, "private", SETTINGS_HEAD + 'ALLOWED_HOSTS = ["site.test"]\n', {"django_secret_key": secret_key()}
    )
    (env_dir / "secrets.json").chmod(0o600)  # root only: uWSGI's user cannot read it
    code, output = start_and_wait(
        image,
        containers,
        env_dir,
        {"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test"},
        name="private",
    )
    assert code != 0
    assert "secrets.json cannot be read" in output
    assert "Permission denied" in output


def test_defaults_apply_when_optional_variables_are_unset(site):
    name, _ = site
    out, _ = logs(name)
    assert "TLS off" in out
    assert "uWSGI 2 process(es) x 2 thread(s)" in out
    config = docker("exec", name, "cat", "/etc/nginx/conf.d/app.conf").stdout
    assert "client_max_body_size 10m;" in config
    assert "server_name site.test;" in config

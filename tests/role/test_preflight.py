"""Every input a user can get wrong stops the deploy before any host is changed, naming the variable."""

import json
import sys
from pathlib import Path

import pytest
from ansible_helpers import ansible_playbook, extra_vars

GOOD_KEY = "k" * 20 + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


@pytest.fixture
def untouched(tmp_path):
    """A base directory that must still not exist after the failed run."""
    base = tmp_path / "srv"
    yield ["-e", f"django_dockerable_base_dir={base}"]
    assert not base.exists(), "the host was changed before the error"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"environment": "qa"}, "django_dockerable_environment is 'qa': it must be an inventory group"),
        ({"secret_key": "too-short"}, "django_dockerable_secret_key is missing, shorter than 50 characters"),
        ({"secret_key": ""}, "django_dockerable_secret_key is missing"),
        ({"secret_key": "change-me-" + "x" * 60}, "or a placeholder"),
        ({"secret_key": "django-insecure-" + GOOD_KEY}, "or a placeholder"),
        ({"secret_key": "ab" * 30}, "or a placeholder"),
        (
            {"tls_mode": "ssl"},
            "value of django_dockerable_tls_mode must be one of: off, letsencrypt, offload, got: ssl",
        ),
        ({"tls_mode": "letsencrypt"}, "django_dockerable_letsencrypt_email is '': it must be an e-mail address."),
        (
            {"tls_mode": "letsencrypt", "letsencrypt_email": "ops@example.com"},
            "every entry of django_dockerable_server_names must be a public DNS name",
        ),
        (
            {
                "tls_mode": "letsencrypt",
                "letsencrypt_email": "ops@example.com",
                "server_names": ["www.example.com"],
                "acme_profile": "sixdays",
            },
            "django_dockerable_acme_profile is 'sixdays': Let's Encrypt offers classic, tlsserver and shortlived",
        ),
        (
            {
                "tls_mode": "letsencrypt",
                "letsencrypt_email": "ops@example.com",
                "server_names": ["www.example.com"],
                "acme_profile": "Short Lived",
                "acme_directory": "https://acme.example.com/directory",
            },
            "django_dockerable_acme_profile is 'Short Lived': it must be empty (the CA's default) or a profile name",
        ),
        (
            {
                "tls_mode": "letsencrypt",
                "letsencrypt_email": "ops@example.com",
                "server_names": ["www.example.com"],
                "acme_address": "http://web1.example.com",
            },
            "django_dockerable_acme_address is 'http://web1.example.com': it must be empty, a host name or an IP",
        ),
        ({"server_names": ["bad_name!"]}, "django_dockerable_server_names is ['bad_name!']: it must be a list of host"),
        ({"server_names": []}, "django_dockerable_server_names is []: it must be a list of host names"),
        ({"server_names": "www.example.com"}, "django_dockerable_server_names is 'www.example.com': it must be a list"),
        ({"uwsgi_processes": 0}, "django_dockerable_uwsgi_processes is 0: it must be a whole number from 1 to 512."),
        ({"uwsgi_processes": "abc"}, "django_dockerable_uwsgi_processes"),
        ({"ship_mode": "registry"}, "django_dockerable_ship_mode is registry but django_dockerable_registry is empty"),
        ({"tls_mode": "offload"}, "django_dockerable_trusted_proxies must list the balancers"),
        # The list of inputs that once got through.
        ({"http_port": 0}, "django_dockerable_http_port is 0: it must be a whole number from 1 to 65535."),
        ({"http_port": 70000}, "django_dockerable_http_port is 70000: it must be a whole number from 1 to 65535."),
        (
            {
                "tls_mode": "letsencrypt",
                "letsencrypt_email": "ops@example.com",
                "server_names": ["www.example.com"],
                "http_port": 8443,
                "https_port": 8443,
            },
            "django_dockerable_http_port and django_dockerable_https_port are both 8443",
        ),
        ({"serial": 0}, "django_dockerable_serial is 0: it must be a positive number of hosts, or a percentage"),
        ({"serial": -1}, "django_dockerable_serial is -1: it must be a positive number of hosts"),
        ({"serial": "abc"}, "django_dockerable_serial is 'abc': it must be a positive number of hosts"),
        ({"serial": "150%"}, "django_dockerable_serial is '150%'"),
        ({"health_timeout": -5}, "django_dockerable_health_timeout is -5: it must be a whole number from 1 to 3600."),
        ({"project": "team/site"}, "django_dockerable_project is 'team/site': it must be lowercase letters, digits"),
        ({"project": "my site"}, "django_dockerable_project is 'my site'"),
        ({"project": "Django-Dockerable"}, "django_dockerable_project is 'Django-Dockerable'"),
        ({"base_dir": "srv/site"}, "django_dockerable_base_dir is 'srv/site': it must be an absolute path"),
        (
            {"base_dir": "/tmp/dd-test/../dd-escape"},
            "django_dockerable_base_dir is '/tmp/dd-test/../dd-escape': it must",
        ),
        ({"registry": "https://registry.example.com"}, "django_dockerable_registry is 'https://registry.example.com'"),
        ({"bind_address": "localhost"}, "django_dockerable_bind_address is 'localhost': it must be an IP address"),
        (
            {"client_max_body_size": "10 MB"},
            "django_dockerable_client_max_body_size is '10 MB': it must be an nginx size",
        ),
        ({"database_port": 0}, "django_dockerable_database_port is 0: it must be a whole number from 1 to 65535."),
        (
            {"extra_settings": {"not-an-identifier": 1}},
            "django_dockerable_extra_settings is ['not-an-identifier']: it must be a dictionary of Django settings",
        ),
        ({"extra_settings": {"SECRET_KEY": "x" * 60}}, "django_dockerable_extra_settings is ['SECRET_KEY']: it must"),
        ({"extra_settings": {"DATABASES": {}}}, "none that the role writes itself (SECRET_KEY, SECRETS, DEBUG,"),
        (
            {"extra_secrets": {"database_password": "a-secret-value"}},
            "django_dockerable_extra_secrets is ['database_password']: it must be a dictionary whose names",
        ),
        (
            {"memory_limit": 200, "uwsgi_processes": 2},
            "django_dockerable_memory_limit is 200 MiB, but 2 uWSGI processes (django_dockerable_uwsgi_processes) of"
            " 80 MiB each (django_dockerable_worker_memory) and 100 MiB for the rest need 260 MiB",
        ),
        ({"database_engine": "postgresql"}, "django_dockerable_database_name is '': it must be a PostgreSQL database"),
        (
            {"database_bundled": True},
            "django_dockerable_database_bundled is true: it needs django_dockerable_database_engine postgresql "
            "(now sqlite)",
        ),
        (
            {
                "database_bundled": True,
                "database_engine": "postgresql",
                "database_host": "db.example.com",
                "database_name": "site",
                "database_user": "site",
                "database_password": "a-password",
            },
            "an empty django_dockerable_database_host (the app reaches the bundled database as `db`; "
            'now "db.example.com")',
        ),
        ({"acme_ca_bundle": "/nonexistent/ca.pem"}, "django_dockerable_acme_ca_bundle is '/nonexistent/ca.pem'"),
    ],
    ids=lambda value: str(value)[:60],
)
def test_bad_input_is_refused_before_any_change(untouched, variables, expected):
    result = ansible_playbook("deploy.yml", "-l", "local", *untouched, *extra_vars(**variables))
    assert result.returncode != 0
    assert expected in " ".join(result.stdout.split()), result.stdout[-3000:]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # Ansible's own check accepts a list for a str (as its text): the rule check refuses it.
        ("secret_key", ["a-secret-list-value"]),
        # Ansible's own check refuses it, without echoing it.
        ("extra_secrets", "a-secret-text-value"),
        ("manage_environment", "a-secret-text-value"),
    ],
)
def test_type_errors_do_not_echo_secret_values(untouched, name, value):
    result = ansible_playbook("deploy.yml", "-l", "local", *untouched, *extra_vars(**{name: value}))
    assert result.returncode != 0
    assert f"django_dockerable_{name}" in result.stdout
    assert "a-secret-" not in result.stdout


def test_one_environment_at_a_time(untouched):
    result = ansible_playbook("deploy.yml", *untouched)
    assert result.returncode != 0
    assert "Choose one environment with -l: ansible-playbook deploy.yml -l staging" in result.stdout


def test_placeholder_secrets_in_the_example_vault_are_refused(untouched, tmp_path):
    """The repository's example vault decrypts with its documented example password, and its
    placeholder values are refused before any host (here unreachable examples) is contacted."""
    vault_dir = tmp_path / "vault"
    vault_dir.mkdir()
    (vault_dir / "staging").write_text("example-staging-vault-password\n")
    result = ansible_playbook(
        "deploy.yml", "-l", "staging", *untouched, env={"DJANGO_DOCKERABLE_VAULT_DIR": str(vault_dir)}
    )
    assert result.returncode != 0
    assert "django_dockerable_secret_key is missing, shorter than 50 characters, or a placeholder" in " ".join(
        result.stdout.split()
    )
    assert "UNREACHABLE" not in result.stdout


def test_missing_vault_password_is_reported(untouched, tmp_path):
    """Ansible's own error, before any task runs (the client hands Ansible an unusable password, so
    that environments without a password file, like local, still deploy)."""
    result = ansible_playbook(
        "deploy.yml", "-l", "staging", *untouched, env={"DJANGO_DOCKERABLE_VAULT_DIR": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "Decryption failed (no vault secrets were found that could decrypt)" in result.stdout
    assert "TASK [" not in result.stdout


def test_a_stale_lock_is_reported_before_any_change(tmp_path):
    base = tmp_path / "srv"
    lock = Path("/run/lock/dd-preflight-local.deploy.lock")
    lock.write_text("taken 2026-01-01T00:00:00Z by someone@somewhere for deploy run 1\n")
    try:
        result = ansible_playbook(
            "deploy.yml",
            "-l",
            "local",
            "-e",
            f"django_dockerable_base_dir={base}",
            "-e",
            "django_dockerable_project=dd-preflight",
        )
        text = " ".join(result.stdout.split())
        assert result.returncode != 0
        assert "the local environment is locked (taken 2026-01-01T00:00:00Z by someone@somewhere" in text
        assert "run again with -e django_dockerable_break_lock=true" in text
        assert "Build the image on the controller" not in text
        assert not base.exists()
        assert lock.read_text() == "taken 2026-01-01T00:00:00Z by someone@somewhere for deploy run 1\n"
    finally:
        lock.unlink()


def _environment(tmp_path, hosts, variables):
    """An inventory with one environment `qa` of `hosts` (each this machine), with `variables`."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars/qa").mkdir(parents=True)
    lines = ["all:", "  children:", "    qa:", "      hosts:"]
    lines += [f"        {host}: {{ansible_connection: local}}" for host in hosts]
    (inventory / "hosts.yml").write_text("\n".join(lines) + "\n")
    base = {
        "django_dockerable_environment": "qa",
        "django_dockerable_secret_key": GOOD_KEY,
        "django_dockerable_base_dir": str(tmp_path / "srv"),
        "django_dockerable_tls_mode": "letsencrypt",
        "django_dockerable_letsencrypt_email": "ops@example.com",
        "ansible_python_interpreter": sys.executable,
        # A check after the one under test fails, so that a run that passes it stops there too.
        "django_dockerable_acme_ca_bundle": "/nonexistent/ca.pem",
    }
    (inventory / "group_vars/qa/vars.yml").write_text(json.dumps({**base, **variables}))
    return str(inventory / "hosts.yml")


def test_more_hosts_than_lets_encrypt_allows_for_one_name_are_refused_before_any_change(tmp_path):
    """One certificate per host, at most 5 for one set of names per 7 days: 6 hosts serving
    www.example.com are refused, pointing to offload; hosts with names of their own are not counted."""
    hosts = [f"web{number}.qa.test" for number in range(1, 7)]
    shared = _environment(tmp_path / "shared", hosts, {"django_dockerable_server_names": ["www.example.com"]})
    result = ansible_playbook("deploy.yml", "-i", shared, "-l", "qa")
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "6 hosts of the qa environment serve the names www.example.com (django_dockerable_server_names)" in text
    assert "django_dockerable_tls_mode: offload" in text
    assert not (tmp_path / "shared" / "srv").exists()

    own = _environment(tmp_path / "own", hosts, {"django_dockerable_server_names": ["{{ inventory_hostname }}"]})
    result = ansible_playbook("deploy.yml", "-i", own, "-l", "qa")
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "Let's Encrypt issues at most 5 certificates" not in text
    assert "django_dockerable_acme_ca_bundle is '/nonexistent/ca.pem'" in text
    assert not (tmp_path / "own" / "srv").exists()


def test_operating_playbooks_refuse_what_they_cannot_do(tmp_path):
    """manage.yml needs a command and a serving release; maintenance.yml needs on or off. Each
    refusal names what to do, and leaves nothing behind (no lock, no directory)."""
    base = tmp_path / "srv"
    common = ["-l", "local", "-e", f"django_dockerable_base_dir={base}", "-e", "django_dockerable_project=dd-nothing"]
    no_release = ansible_playbook("playbooks/manage.yml", *common, "-e", "django_dockerable_manage=clearsessions")
    assert no_release.returncode != 0
    assert "localhost: no release of the local environment serves here" in " ".join(no_release.stdout.split())
    assert "deploy first, ansible-playbook deploy.yml -l local" in " ".join(no_release.stdout.split())
    no_command = ansible_playbook("playbooks/manage.yml", *common)
    assert no_command.returncode != 0
    assert "django_dockerable_manage is empty: name the command" in no_command.stdout
    unbalanced = ansible_playbook("playbooks/manage.yml", *common, "-e", 'django_dockerable_manage="shell -c \'x"')
    assert unbalanced.returncode != 0
    assert "it cannot be split into arguments (No closing quotation)" in unbalanced.stdout
    neither = ansible_playbook("playbooks/maintenance.yml", *common)
    assert neither.returncode != 0
    assert "django_dockerable_maintenance must be on or off" in neither.stdout
    assert not Path("/run/lock/dd-nothing-local.deploy.lock").exists()
    assert not base.exists()


def _shortlived(tmp_path, count):
    """An environment of `count` hosts serving www.example.com with shortlived certificates at
    Let's Encrypt, with a database for several hosts."""
    return _environment(
        tmp_path,
        [f"web{number}.qa.test" for number in range(1, count + 1)],
        {
            "django_dockerable_server_names": ["www.example.com"],
            "django_dockerable_acme_profile": "shortlived",
            "django_dockerable_database_engine": "postgresql",
            "django_dockerable_database_host": "db.example.com",
            "django_dockerable_database_name": "site",
            "django_dockerable_database_user": "site",
            "django_dockerable_database_password": "a-database-password",
        },
    )


def test_shortlived_on_three_hosts_is_refused_with_the_figure(tmp_path):
    """Every renewal counts against Let's Encrypt's 5 certificates per set of names per 7 days (the
    image's certbot does not send RFC 9773's `replaces`, which ARI renewals need to be exempt), a
    token bucket whose rate renewals must keep: shortlived certificates (160 hours, renewed every
    80) on 3 hosts make 6.3 per 7 days. Refused before any change, naming the variables and the
    figure, whatever the ACME directory offers (it is not asked)."""
    inventory = _shortlived(tmp_path, 3)
    result = ansible_playbook("deploy.yml", "-i", inventory, "-l", "qa")
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert (
        "3 hosts of the qa environment serve the names www.example.com, each renewing a certificate of its own with"
        " django_dockerable_acme_profile shortlived (160-hour certificates, renewed every 80 hours): 6.3"
        " certificates per 7 days (2.1 per host), over Let's Encrypt's limit of 5 per set of names per 7 days."
    ) in text, result.stdout[-3000:]
    assert "which the image's certbot does not send yet" in text
    assert "Use at most 2 hosts per set of names with this profile" in text
    assert not (tmp_path / "srv").exists()


def test_within_the_limit_passes_without_asking_the_directory(tmp_path):
    """shortlived on 2 hosts (4.2 per 7 days) and classic on 5 (0.6) are within the limit; the
    directory, which here could not answer, is not asked. A later check stops the run."""
    for name, inventory in [
        ("shortlived", _shortlived(tmp_path / "shortlived", 2)),
        (
            "classic",
            _environment(
                tmp_path / "classic",
                [f"web{number}.qa.test" for number in range(1, 6)],
                {
                    "django_dockerable_server_names": ["www.example.com"],
                    "django_dockerable_acme_profile": "classic",
                    "django_dockerable_acme_directory": "https://127.0.0.1:9/dir",
                },
            ),
        ),
    ]:
        result = ansible_playbook("tests/role/preflight.yml", "-i", inventory)
        text = " ".join(result.stdout.split())
        assert "over Let's Encrypt's limit" not in text, name
        assert "django_dockerable_acme_ca_bundle is '/nonexistent/ca.pem'" in text, (name, result.stdout[-3000:])


def _two_hosts(tmp_path, variables):
    """An environment of two hosts behind one name, with PostgreSQL (SQLite is for one host)."""
    return _environment(
        tmp_path,
        ["web1.qa.test", "web2.qa.test"],
        {
            "django_dockerable_tls_mode": "off",
            "django_dockerable_server_names": ["www.example.com"],
            "django_dockerable_database_engine": "postgresql",
            "django_dockerable_database_host": "db.example.com",
            "django_dockerable_database_name": "site",
            "django_dockerable_database_user": "site",
            "django_dockerable_database_password": "a-database-password",
            "django_dockerable_acme_ca_bundle": "",
            **variables,
        },
    )


def test_uploads_on_one_host_of_several_are_refused_before_any_change(tmp_path):
    """Local uploads on two hosts: a file uploaded through one would be missing on the other. The
    deploy stops before any change, naming both ways out; either way passes preflight."""
    result = ansible_playbook("deploy.yml", "-i", _two_hosts(tmp_path / "local", {}), "-l", "qa")
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert (
        "django_dockerable_media_storage is local, but the environment qa has 2 hosts (web1.qa.test, web2.qa.test):"
        " a file uploaded through one host would be missing (404) on the others, and lost with that host."
    ) in text, result.stdout[-3000:]
    assert "Set django_dockerable_media_storage: s3" in text
    assert f"if {tmp_path / 'local' / 'srv'}/qa/media is a directory that every host shares" in text
    assert "set django_dockerable_media_shared: true" in text
    assert not (tmp_path / "local" / "srv").exists()

    s3 = {
        "django_dockerable_media_storage": "s3",
        "django_dockerable_media_s3_endpoint_url": "https://s3.example.com",
        "django_dockerable_media_s3_bucket": "uploads",
        "django_dockerable_media_s3_access_key": "an-access-key",
        "django_dockerable_media_s3_secret_key": "a-secret-key-of-the-store",
    }
    for name, variables in [("shared", {"django_dockerable_media_shared": True}), ("s3", s3)]:
        result = ansible_playbook("tests/role/preflight.yml", "-i", _two_hosts(tmp_path / name, variables))
        assert result.returncode == 0, (name, result.stdout[-3000:])
        assert "a-secret-key-of-the-store" not in result.stdout


def test_uploads_in_an_object_store_need_its_bucket_and_keys(tmp_path):
    result = ansible_playbook(
        "tests/role/preflight.yml",
        "-i",
        _two_hosts(tmp_path, {"django_dockerable_media_storage": "s3", "django_dockerable_media_s3_bucket": "uploads"}),
    )
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "django_dockerable_media_storage is s3: set django_dockerable_media_s3_bucket" in text
    assert "django_dockerable_media_s3_access_key and django_dockerable_media_s3_secret_key (not placeholders)" in text
    assert "group_vars/qa/vault.yml" in text

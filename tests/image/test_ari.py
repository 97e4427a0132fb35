"""Renewals with ACME Renewal Information (ARI, RFC 9773), against Pebble: dockerable-tls renew asks
the CA for the certificate's suggested window and says whether the renewal happened inside it.

Pebble 2.6 (Debian 13's) issues 5-year certificates (it has no setting for their lifetime) and
suggests a 2-day window around two thirds of the lifetime (core.RenewalInfoSimple), so a fresh
certificate's window opens in about 3 years and 4 months; for a revoked certificate it suggests a
window that began an hour ago (core.RenewalInfoImmediate), as a CA does when it wants a certificate
replaced now. So: a fresh certificate is outside its window, a revoked one inside.

Each test module runs its own network and Pebble (names unique to the run), so that it can run
beside other test runs on the same engine."""

import base64
import datetime
import uuid

import pytest
from cryptography import x509

from conftest import Containers, mount
from helpers import ROOT, docker, peer_certificate, wait_until_serving

SITE = "site.ari.test"
PEBBLE = "acme.pebble.test"
DIRECTORY = f"https://{PEBBLE}:14000/dir"


@pytest.fixture(scope="module")
def ari_network():
    name = f"dockerable-ari-{uuid.uuid4().hex[:8]}"
    docker("network", "create", name)
    yield name
    docker("network", "rm", name, check=False)


@pytest.fixture(scope="module")
def ari_pebble(base_image, ari_network, tmp_path_factory):
    """Pebble on this module's network, reached as acme.pebble.test; returns its CA file."""
    tag = "dockerable-test-pebble:latest"
    docker(
        "buildx", "build", "--quiet", "--build-arg", f"BASE_IMAGE={base_image}", "--build-arg", f"PEBBLE_NAME={PEBBLE}",
        "--file", str(ROOT / "molecule/images/pebble/Dockerfile"), "--tag", tag, str(ROOT / "molecule/images"),
    )  # fmt: skip
    name = f"dockerable-ari-pebble-{uuid.uuid4().hex[:8]}"
    docker("run", "--detach", "--name", name, "--network", ari_network, "--network-alias", PEBBLE, tag)
    ca = tmp_path_factory.mktemp("ari-pebble") / "ca.pem"
    ca.write_text(docker("exec", name, "cat", "/etc/pebble/ca.pem").stdout)
    ca.chmod(0o644)
    yield ca
    docker("rm", "--force", name, check=False)


@pytest.fixture
def ari_site(image, ari_network, ari_pebble, sqlite_env):
    """A TLS_MODE=letsencrypt container for site.ari.test with a certificate from Pebble, obtained
    as the role's tls.yml obtains it (certbot certonly --webroot through docker exec)."""
    env_dir, module = sqlite_env
    settings = env_dir / "settings.py"
    settings.write_text(settings.read_text() + f'ALLOWED_HOSTS += ["{SITE}"]\n')
    containers = Containers(ari_network)
    name = containers.run(
        image,
        *mount(env_dir), "--network-alias", SITE, "--volume", f"{ari_pebble}:/etc/dockerable/acme-ca.pem:ro",
        env={
            "DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": SITE, "TLS_MODE": "letsencrypt",
            "UWSGI_PROCESSES": "1", "REQUESTS_CA_BUNDLE": "/etc/dockerable/acme-ca.pem",
        },
        name=f"dockerable-ari-site-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    address = containers.address(name)
    wait_until_serving(name, address, SITE, scheme="https")
    docker(
        "exec", name, "certbot", "certonly", "--webroot", "--webroot-path", "/var/www/acme", "--cert-name", SITE,
        "--email", "ops@ari.test", "--agree-tos", "--no-eff-email", "--non-interactive", "--server", DIRECTORY,
        "--domain", SITE,
    )  # fmt: skip
    docker("exec", name, "dockerable-tls", "sync")
    yield name, address
    containers.remove_all()


def renew(name):
    """dockerable-tls renew as the cron job runs it; its key=value lines (each key once) and the time."""
    started = datetime.datetime.now(datetime.UTC)
    result = docker("exec", name, "dockerable-tls", "renew", "--no-random-sleep-on-renew", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    values = dict(line.split("=", 1) for line in lines)
    assert len(values) == len(lines), lines
    return values, started, result.stderr


def served(address):
    return x509.load_der_x509_certificate(peer_certificate(address, SITE)[0])


def on_disk(name):
    pem = docker("exec", name, "cat", f"/etc/letsencrypt/live/{SITE}/cert.pem").stdout.encode()
    return x509.load_pem_x509_certificate(pem)


def utc(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def test_a_fresh_certificate_outside_its_window_is_not_renewed(ari_site):
    name, address = ari_site
    before = served(address)
    values, _, _ = renew(name)
    assert (values["result"], values["renewed"], values["ari"]) == ("ok", "no", "no")
    # Pebble's window: 2 days around the point where a third of the lifetime is left.
    lifetime = before.not_valid_after_utc + datetime.timedelta(seconds=1) - before.not_valid_before_utc
    ideal = before.not_valid_after_utc - lifetime / 3
    assert utc(values["window_start"]) == (ideal - datetime.timedelta(hours=24)).replace(microsecond=0)
    assert utc(values["window_end"]) == (ideal + datetime.timedelta(hours=24)).replace(microsecond=0)
    assert utc(values["window_start"]) > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    assert served(address).serial_number == before.serial_number == on_disk(name).serial_number


def test_certificates_inside_their_window_are_renewed_by_ari_several_times_in_a_row(ari_site):
    name, address = ari_site
    conf = f"/etc/letsencrypt/renewal/{SITE}.conf"
    # Nothing else makes certbot renew: no renew_before_expiry, and a 5-year certificate.
    assert "renew_before_expiry" not in docker("exec", name, "cat", conf).stdout
    serials = [served(address).serial_number]
    for _ in range(3):
        # The CA wants this certificate replaced: its window opens.
        docker(
            "exec", name, "certbot", "revoke", "--cert-name", SITE, "--no-delete-after-revoke", "--reason",
            "superseded", "--non-interactive", "--server", DIRECTORY,
        )  # fmt: skip
        # certbot asks the CA again only after the Retry-After of its last question (6 hours by
        # default); the cron job runs every 12 hours. Forget it, as those hours would.
        docker("exec", name, "sed", "-i", "/^ari_retry_after/d", conf)
        values, started, log = renew(name)
        assert (values["result"], values["renewed"], values["ari"]) == ("ok", "yes", "yes"), log
        assert utc(values["window_start"]) <= started
        assert utc(values["window_end"]) - utc(values["window_start"]) == datetime.timedelta(minutes=30)
        now = served(address)
        assert now.serial_number == on_disk(name).serial_number
        assert now.serial_number not in serials
        serials.append(now.serial_number)
    # The next run finds the new certificate outside its window.
    docker("exec", name, "sed", "-i", "/^ari_retry_after/d", conf)
    values, _, _ = renew(name)
    assert (values["renewed"], values["ari"]) == ("no", "no")
    assert served(address).serial_number == serials[-1]


def test_the_ari_certificate_id_is_certbots(ari_site):
    """ari.py's certificate id (RFC 9773 section 4.1) is the one certbot's acme library asks for."""
    name, _ = ari_site
    script = (
        "import sys; sys.path.insert(0, '/opt/dockerable'); from ari import certificate_id;"
        "from acme.client import _renewal_info_path_component as acme_id; from cryptography import x509;"
        f"c = x509.load_pem_x509_certificate(open('/etc/letsencrypt/live/{SITE}/cert.pem', 'rb').read());"
        "print(certificate_id(c)); print(acme_id(c))"
    )
    ours, certbots = docker("exec", name, "/opt/certbot/bin/python", "-c", script).stdout.split()
    assert ours == certbots
    key_id, serial = ours.split(".")
    certificate = on_disk(name)

    def decoded(text):
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    authority = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert decoded(key_id) == authority.key_identifier
    assert int.from_bytes(decoded(serial), "big", signed=True) == certificate.serial_number


def test_without_an_answer_from_the_directory_the_window_is_unavailable(ari_site):
    """The lineage's directory does not answer (pointed at a URL that is not Pebble's directory):
    ari=unavailable, and the renewal itself goes on as usual."""
    name, _ = ari_site
    conf = f"/etc/letsencrypt/renewal/{SITE}.conf"
    docker("exec", name, "sed", "-i", f"s#^server = .*#server = https://{PEBBLE}:14000/nowhere#", conf)
    values, _, log = renew(name)
    assert (values["result"], values["renewed"], values["ari"]) == ("ok", "no", "unavailable")
    assert (values["window_start"], values["window_end"]) == ("", "")
    assert "no ARI window: the ACME directory" in log


def test_certbot_is_from_pypi_with_ari_and_debians_is_gone(image):
    version = docker("run", "--rm", "--entrypoint", "certbot", image, "--version").stdout.split()
    assert version[0] == "certbot"
    assert tuple(int(part) for part in version[1].split(".")[:2]) >= (4, 1)
    packages = docker("run", "--rm", image, "dpkg-query", "-W", "-f", "${Package}\n").stdout.split()
    assert not [package for package in packages if "certbot" in package or package == "python3-acme"]

"""TLS_MODE=letsencrypt before any certificate exists, and after one appears; TLS_MODE=offload."""

import datetime
import json
import socket
import ssl
import time

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import mount
from helpers import docker, http, https, logs, peer_certificate, wait_until_serving

NAMES = "tls.test www.tls.test"


@pytest.fixture
def tls_site(image, containers, tmp_path, sqlite_env):
    env_dir, module = sqlite_env
    # The settings allow site.test only; add the TLS names.
    settings = env_dir / "settings.py"
    settings.write_text(settings.read_text() + 'ALLOWED_HOSTS += ["tls.test", "www.tls.test"]\n')
    letsencrypt = tmp_path / "letsencrypt"
    letsencrypt.mkdir()
    name = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        "--volume",
        f"{letsencrypt}:/etc/letsencrypt",
        env={"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": NAMES, "TLS_MODE": "letsencrypt"},
    )
    address = containers.address(name)
    wait_until_serving(name, address, "tls.test", scheme="https")
    return name, address, letsencrypt


def test_https_answers_with_a_temporary_self_signed_certificate(tls_site):
    name, address, _ = tls_site
    der, version = peer_certificate(address, "tls.test")
    certificate = x509.load_der_x509_certificate(der)
    assert certificate.issuer == certificate.subject  # self-signed
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["tls.test", "www.tls.test"]
    assert version == "TLSv1.3"
    response = https("/healthz", address, "tls.test")
    assert response.status == 200
    assert json.loads(response.data)["database"] is True
    # The container's own health check uses HTTPS too, and accepts the temporary certificate.
    docker("exec", name, "/usr/bin/python3", "/app/dockerable/healthcheck.py")


def test_tls_is_mozilla_intermediate(tls_site):
    """TLS 1.2 and 1.3 only; TLS 1.2 with forward-secret AEAD ciphers."""
    name, address, _ = tls_site
    config = docker("exec", name, "cat", "/etc/nginx/conf.d/app.conf").stdout
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in config
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection((address, 443), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="tls.test") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        cipher = tls.cipher()[0]
        assert cipher.startswith("ECDHE-")
        assert "GCM" in cipher or "CHACHA20" in cipher


def test_django_sees_https(tls_site):
    _, address, _ = tls_site
    response = https("/admin/login/", address, "tls.test")
    assert response.status == 200
    # Django builds absolute URLs with the scheme nginx passed on.
    assert https("/admin/", address, "tls.test").headers["Location"].startswith("/admin/login/")


def test_http_redirects_to_https_except_acme_challenges(tls_site):
    name, address, _ = tls_site
    response = http("GET", f"http://{address}/some/page?x=1", "www.tls.test")
    assert response.status == 301
    assert response.headers["Location"] == "https://www.tls.test/some/page?x=1"

    docker(
        "exec",
        name,
        "sh",
        "-c",
        "mkdir -p /var/www/acme/.well-known/acme-challenge && "
        "printf token-content > /var/www/acme/.well-known/acme-challenge/abc123",
    )
    challenge = http("GET", f"http://{address}/.well-known/acme-challenge/abc123", "tls.test")
    assert challenge.status == 200
    assert challenge.data == b"token-content"
    missing = http("GET", f"http://{address}/.well-known/acme-challenge/nope", "tls.test")
    assert missing.status == 404


def _certificate(common_name):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=5))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("tls.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        certificate,
        certificate.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def test_reload_switches_to_the_real_certificate_without_a_restart(tls_site):
    name, address, letsencrypt = tls_site
    started_at = docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout
    certificate, chain, key = _certificate("tls.test")
    live = letsencrypt / "live" / "tls.test"
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_bytes(chain)
    (live / "privkey.pem").write_bytes(key)

    docker("exec", name, "dockerable-tls", "reload")

    served, _ = peer_certificate(address, "tls.test")
    assert x509.load_der_x509_certificate(served).serial_number == certificate.serial_number
    assert docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout == started_at
    assert https("/healthz", address, "tls.test").status == 200


def test_a_broken_certificate_is_not_loaded(tls_site):
    name, address, letsencrypt = tls_site
    before, _ = peer_certificate(address, "tls.test")
    live = letsencrypt / "live" / "tls.test"
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_text("not a certificate\n")
    (live / "privkey.pem").write_text("not a key\n")

    result = docker("exec", name, "dockerable-tls", "reload", check=False)

    assert result.returncode != 0
    assert "not reloaded" in result.stderr
    after, _ = peer_certificate(address, "tls.test")
    assert after == before
    assert https("/healthz", address, "tls.test").status == 200
    # nginx itself still passes its configuration test: the links were put back.
    docker("exec", name, "nginx", "-t", "-q")


def test_offload_trusts_the_scheme_only_from_listed_balancers(image, containers, sqlite_env, network):
    env_dir, module = sqlite_env
    subnet = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", network).stdout.strip()
    # SECURE_SSL_REDIRECT shows which scheme Django believes: it redirects only plain HTTP.
    settings = env_dir / "settings.py"
    settings.write_text(settings.read_text() + "SECURE_SSL_REDIRECT = True\n")

    trusted = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        env={
            "DJANGO_SETTINGS_MODULE": module,
            "NGINX_SERVER_NAME": "site.test",
            "TLS_MODE": "offload",
            "NGINX_TRUSTED_PROXIES": subnet,
        },
    )
    untrusted = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        env={
            "DJANGO_SETTINGS_MODULE": module,
            "NGINX_SERVER_NAME": "site.test",
            "TLS_MODE": "offload",
            "NGINX_TRUSTED_PROXIES": "192.0.2.0/24",
        },
    )
    for container in (trusted, untrusted):
        wait_until_serving(container, containers.address(container), "site.test")

    forwarded = {"X-Forwarded-Proto": "https"}
    # From a trusted balancer, HTTPS is believed: no redirect to HTTPS.
    response = http("GET", f"http://{containers.address(trusted)}/admin/login/", "site.test", headers=forwarded)
    assert response.status == 200
    # Without the header, Django redirects to HTTPS.
    response = http("GET", f"http://{containers.address(trusted)}/admin/login/", "site.test")
    assert response.status == 301
    assert response.headers["Location"] == "https://site.test/admin/login/"
    # From anyone else, the header is ignored.
    response = http("GET", f"http://{containers.address(untrusted)}/admin/login/", "site.test", headers=forwarded)
    assert response.status == 301
    # Health checks are never redirected.
    assert http("GET", f"http://{containers.address(untrusted)}/healthz", "site.test").status == 200


def proxied(address, source, path="/", host="site.test", headers=()):
    """GET over a connection that starts with a PROXY protocol v1 header naming `source` as the client."""
    with socket.create_connection((address, 80), timeout=10) as connection:
        connection.sendall(f"PROXY TCP4 {source} {address} 40000 80\r\n".encode())
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close", *headers]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
    return response.decode(errors="replace")


def behind_an_edge(image, containers, sqlite_env, **env):
    """A container with NGINX_PROXY_PROTOCOL=1 (and env), healthy by its loopback check (no PROXY
    header), its database migrated; returns its address."""
    env_dir, module = sqlite_env
    variables = {"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": "site.test", "NGINX_PROXY_PROTOCOL": "1"}
    name = containers.run(image, *mount(env_dir, "sqlitetest"), env={**variables, **env})
    for _ in range(120):
        if docker("exec", name, "/usr/bin/python3", "/app/dockerable/healthcheck.py", check=False).returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the container never became healthy:\n" + "".join(logs(name)))
    docker("exec", "--user", "django", name, "python", "manage.py", "migrate", "--noinput")
    return containers.address(name)


def test_behind_a_pass_through_the_proxy_protocol_names_the_client(image, containers, sqlite_env):
    """NGINX_PROXY_PROTOCOL=1 (the role's edge in front): the client's address comes from the PROXY
    header; a connection without one is refused; the loopback check still works."""
    address = behind_an_edge(image, containers, sqlite_env)
    page = proxied(address, "203.0.113.7")
    assert page.startswith("HTTP/1.1 200"), page[:500]
    assert '<code id="client">203.0.113.7</code>' in page
    # Without the PROXY header, nginx refuses the connection's request.
    with pytest.raises(urllib3.exceptions.HTTPError):
        http("GET", f"http://{address}/", "site.test")


def test_behind_a_pass_through_offload_trusts_only_listed_balancers(image, containers, sqlite_env):
    """TLS_MODE=offload behind the edge: a balancer of NGINX_TRUSTED_PROXIES (the PROXY header's
    source) is believed about the client's address and scheme; anyone else is not."""
    settings = sqlite_env[0] / "settings.py"
    settings.write_text(settings.read_text() + "SECURE_SSL_REDIRECT = True\n")
    address = behind_an_edge(image, containers, sqlite_env, TLS_MODE="offload", NGINX_TRUSTED_PROXIES="198.51.100.0/24")
    forwarded = ("X-Forwarded-Proto: https", "X-Forwarded-For: 10.9.9.9, 203.0.113.7")
    page = proxied(address, "198.51.100.10", headers=forwarded)
    assert page.startswith("HTTP/1.1 200"), page[:500]
    assert '<code id="client">203.0.113.7</code>' in page  # the address the balancer appended
    page = proxied(address, "192.0.2.50", headers=forwarded)
    assert page.startswith("HTTP/1.1 301")  # not believed about HTTPS: Django redirects
    page = proxied(address, "192.0.2.50", path="/healthz")
    assert page.startswith("HTTP/1.1 200")

"""TLS_MODE=letsencrypt before any certificate exists, and after one appears; TLS_MODE=offload."""

import datetime
import json
import socket
import ssl
import time
import uuid

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


def tls_info(name):
    """dockerable-tls info as a dict; docker() checks that it exits 0, and each key comes once."""
    lines = docker("exec", name, "dockerable-tls", "info").stdout.splitlines()
    info = dict(line.split("=", 1) for line in lines)
    assert len(info) == len(lines), lines
    return info


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
    docker("exec", name, "/usr/bin/python3", "/opt/dockerable/healthcheck.py")


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


def test_an_unknown_name_gets_no_answer_over_https(tls_site):
    """The handshake succeeds whatever the SNI (balancers may send none); the Host decides."""
    _, address, _ = tls_site
    with pytest.raises(urllib3.exceptions.ProtocolError):
        https("/healthz", address, "other.test")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        http("GET", f"https://{address}/static/pages/site.css", "other.test")
    # No SNI (an address), the site's name as Host: the site answers.
    assert http("GET", f"https://{address}/healthz", "tls.test").status == 200


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


def _challenge_site(image, containers, sqlite_env, tmp_path, name, peers=""):
    """A TLS_MODE=letsencrypt container for tls.test asking NGINX_ACME_PEERS for tokens it lacks;
    returns (its address, its ACME webroot on this machine)."""
    env_dir, module = sqlite_env
    webroot = tmp_path / f"acme-{name}"
    webroot.mkdir()
    webroot.chmod(0o755)
    env = {"DJANGO_SETTINGS_MODULE": module, "NGINX_SERVER_NAME": NAMES, "TLS_MODE": "letsencrypt"}
    if peers:
        env["NGINX_ACME_PEERS"] = peers
    containers.run(image, *mount(env_dir, "sqlitetest"), "--volume", f"{webroot}:/var/www/acme", env=env, name=name)
    address = containers.address(name)
    wait_until_serving(name, address, "tls.test", scheme="https")
    return address, webroot


def _put_token(webroot, token, content):
    path = webroot / ".well-known" / "acme-challenge" / token
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    for directory in (webroot / ".well-known", webroot / ".well-known" / "acme-challenge", path.parent):
        directory.chmod(0o755)
    path.chmod(0o644)


def test_a_challenge_token_is_fetched_from_the_peer_that_has_it(image, containers, sqlite_env, tmp_path):
    """Several hosts behind one name: whichever host the CA reaches answers with the token that
    another host's certbot wrote, asking its peers in turn (unresolvable or refusing ones
    skipped); a relayed request is answered from the peer's own webroot only, so a cycle of
    peers never loops."""
    suffix = uuid.uuid4().hex[:8]
    first, second, third = (f"dockerable-test-acme{number}-{suffix}" for number in (1, 2, 3))
    _, second_webroot = _challenge_site(image, containers, sqlite_env, tmp_path, second)
    # The third names the first as its peer, and the first names the third: a cycle.
    third_address, third_webroot = _challenge_site(image, containers, sqlite_env, tmp_path, third, peers=first)
    first_address, first_webroot = _challenge_site(
        image, containers, sqlite_env, tmp_path, first, peers=f"nowhere.invalid {second}:81 {second} {third}:80"
    )
    _put_token(first_webroot, "token-first", "first-content")
    _put_token(second_webroot, "token-second", "second-content")
    _put_token(third_webroot, "token-third", "third-content")
    _put_token(third_webroot, "sub/deep", "not-a-token")

    def get(address, path, **headers):
        url = f"http://{address}/.well-known/acme-challenge/{path}"
        return http("GET", url, "tls.test", headers=headers)

    for token, content in (
        ("token-first", b"first-content"),
        ("token-second", b"second-content"),
        ("token-third", b"third-content"),
    ):
        response = get(first_address, token)
        assert (response.status, response.data) == (200, content), token
    assert get(first_address, "token-missing").status == 404
    assert get(third_address, "token-first").data == b"first-content"
    # Around the cycle and back: the first, asked by the third, asks nobody.
    assert get(third_address, "token-missing").status == 404
    # A request that a peer relayed is answered from this host's webroot only.
    assert get(first_address, "token-third", **{"X-Dockerable-Acme-Relay": "1"}).status == 404
    assert get(first_address, "token-first", **{"X-Dockerable-Acme-Relay": "1"}).data == b"first-content"
    # Only token-shaped paths are relayed.
    assert get(third_address, "sub/deep").data == b"not-a-token"
    assert get(first_address, "sub/deep").status == 404


def test_sync_reloads_only_when_nginx_serves_another_certificate(tls_site):
    """Whatever happened before (a renewal whose reload never ran), sync makes nginx serve the
    certificate on disk, and does nothing when it already does."""
    name, address, letsencrypt = tls_site
    assert docker("exec", name, "dockerable-tls", "sync").stdout.strip() == "unchanged"
    # The self-signed stopgap is not the site's certificate.
    assert tls_info(name) == {"certificate": "none", "served": "no"}
    certificate, chain, key = _certificate("tls.test")
    live = letsencrypt / "live" / "tls.test"
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_bytes(chain)
    (live / "privkey.pem").write_bytes(key)

    assert docker("exec", name, "dockerable-tls", "sync").stdout.strip() == "reloaded"
    served, _ = peer_certificate(address, "tls.test")
    assert x509.load_der_x509_certificate(served).serial_number == certificate.serial_number
    assert docker("exec", name, "dockerable-tls", "sync").stdout.strip() == "unchanged"
    expiry = dict(line.split("=", 1) for line in docker("exec", name, "dockerable-tls", "expiry").stdout.split())
    assert expiry["days_left"] in ("4", "5")  # 5 days from now, give or take the seconds between the clocks
    assert expiry["expires"] == certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    info = tls_info(name)
    assert info["certificate"] == "letsencrypt"
    assert (info["names"], info["issuer"]) == ("tls.test", "CN=tls.test")
    assert info["not_before"] == certificate.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["expires"] == expiry["expires"]
    assert int(info["lifetime_seconds"]) == 5 * 86400
    assert 4 * 86400 < int(info["seconds_left"]) <= 5 * 86400
    assert int(info["days_left"]) == int(info["seconds_left"]) // 86400
    assert info["served"] == "yes"


def test_renew_without_a_certificate_reports_a_failure(tls_site):
    name, _, _ = tls_site
    result = docker("exec", name, "dockerable-tls", "renew", "--no-random-sleep-on-renew", check=False)
    assert result.returncode != 0
    assert "result=failed" in result.stdout.split()
    assert "expires=none" in result.stdout.split()


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
    assert tls_info(name) == {"certificate": "unreadable", "served": "no"}


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
        if docker("exec", name, "/usr/bin/python3", "/opt/dockerable/healthcheck.py", check=False).returncode == 0:
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


def test_with_email_address_the_container_gets_its_certificate_by_itself(image, containers, sqlite_env, pebble):
    """The original image contract, run alone: USE_SSL=1 and EMAIL_ADDRESS, the settings mounted
    read-only. The container obtains a certificate for its name from ACME_DIRECTORY (Pebble here)
    and serves it, without a restart of the container or of nginx."""
    directory, ca = pebble
    env_dir, module = sqlite_env
    name = containers.run(
        image,
        *mount(env_dir, "sqlitetest"),
        "--network-alias", "site.pebble.test", "--volume", f"{ca}:/etc/dockerable/acme-ca.pem:ro",
        env={
            "DJANGO_SETTINGS_MODULE": module,
            "NGINX_SERVER_NAME": "site.pebble.test",
            "UWSGI_PROCESSES": "1",
            "USE_SSL": "1",
            "EMAIL_ADDRESS": "ops@pebble.test",
            "ACME_DIRECTORY": directory,
            "REQUESTS_CA_BUNDLE": "/etc/dockerable/acme-ca.pem",
        },
    )  # fmt: skip
    address = containers.address(name)
    wait_until_serving(name, address, "site.pebble.test", scheme="https")
    started_at = docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout
    nginx_pid = docker("exec", name, "cat", "/run/nginx.pid").stdout
    for _ in range(120):
        served = x509.load_der_x509_certificate(peer_certificate(address, "site.pebble.test")[0])
        if served.issuer != served.subject:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the container never served a certificate from the CA:\n" + "".join(logs(name))[-3000:])
    assert "Pebble" in served.issuer.rfc4514_string()
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["site.pebble.test"]
    assert docker("inspect", "-f", "{{.State.StartedAt}}", name).stdout == started_at
    assert docker("exec", name, "cat", "/run/nginx.pid").stdout == nginx_pid
    assert "[acme]" in "".join(logs(name))
    # dockerable-tls info reports the certificate obtained, the one nginx serves.
    info = tls_info(name)
    assert info["certificate"] == "letsencrypt"
    assert info["names"] == "site.pebble.test"
    assert "Pebble" in info["issuer"]
    assert info["issuer"] == served.issuer.rfc4514_string()
    assert info["not_before"] == served.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert info["expires"] == served.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    lifetime = (served.not_valid_after_utc - served.not_valid_before_utc).total_seconds()
    assert int(info["lifetime_seconds"]) == lifetime > 0
    assert 0 < int(info["seconds_left"]) <= lifetime
    assert int(info["days_left"]) == int(info["seconds_left"]) // 86400
    assert info["served"] == "yes"

"""ACME Renewal Information (ARI, RFC 9773) for a certificate: the CA's suggested renewal window.

    /opt/certbot/bin/python /opt/dockerable/ari.py CERTIFICATE_PEM DIRECTORY_URL

Prints key=value lines: ``window_start=`` and ``window_end=`` (UTC, ISO 8601) when the CA's directory
offers renewalInfo and answers for the certificate; otherwise ``window=unavailable`` and ``reason=``.
Always exits 0 unless called wrongly: a renewal never depends on this report. dockerable-tls renew
runs it before certbot renew, to record whether the renewal happened inside the window (which alone
does not exempt it from Let's Encrypt's rate limits: the order must also name the certificate it
replaces, RFC 9773's ``replaces``, and certbot 5.8.0 does not send it). Runs with certbot's virtualenv (cryptography,
requests); the CA's certificate comes from REQUESTS_CA_BUNDLE, as certbot's does.
"""

import base64
import datetime
import sys

import requests
from cryptography import x509


def _b64url(data):
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def certificate_id(certificate):
    """RFC 9773 section 4.1: base64url(keyIdentifier of the Authority Key Identifier) "."
    base64url(the serial number's DER INTEGER contents: big-endian, two's complement)."""
    key_identifier = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    serial = certificate.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
    return f"{_b64url(key_identifier)}.{_b64url(serial_bytes)}"


def _utc(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.UTC)


def window(certificate, directory_url, timeout=10):
    """(start, end) of the suggested window, or raises LookupError saying why there is none."""
    try:
        directory = requests.get(directory_url, timeout=timeout)
        directory.raise_for_status()
        base = directory.json().get("renewalInfo")
    except (requests.RequestException, ValueError) as error:
        raise LookupError(f"the ACME directory {directory_url} did not answer: {error}") from None
    if not base:
        raise LookupError(f"the ACME directory {directory_url} offers no renewalInfo")
    url = f"{base.rstrip('/')}/{certificate_id(certificate)}"
    try:
        answer = requests.get(url, timeout=timeout)
        answer.raise_for_status()
        suggested = answer.json()["suggestedWindow"]
        return _utc(suggested["start"]), _utc(suggested["end"])
    except (requests.RequestException, ValueError, KeyError, TypeError) as error:
        raise LookupError(f"renewalInfo {url} did not answer with a window: {error}") from None


def _one_line(text):
    return " ".join(str(text).split())


def _format(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(arguments):
    if len(arguments) != 2:
        print("usage: ari.py CERTIFICATE_PEM DIRECTORY_URL", file=sys.stderr)
        return 64
    path, directory_url = arguments
    try:
        with open(path, "rb") as pem:
            certificate = x509.load_pem_x509_certificate(pem.read())
        start, end = window(certificate, directory_url)
    except (OSError, ValueError, x509.ExtensionNotFound) as error:
        print(f"window=unavailable\nreason={_one_line(f'the certificate {path} cannot be read: {error}')}")
        return 0
    except LookupError as error:
        print(f"window=unavailable\nreason={_one_line(error)}")
        return 0
    print(f"window_start={_format(start)}\nwindow_end={_format(end)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

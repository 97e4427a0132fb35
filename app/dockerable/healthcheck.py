#!/usr/bin/env python3
"""Docker HEALTHCHECK: GET /healthz through nginx, as a client would, with the site's Host header.

cmd.sh writes the scheme, port and host name to /run/dockerable/healthcheck. The check accepts
the temporary self-signed certificate, so a site waiting for its first certificate is healthy.
Exit 0 when the app answers 200, 1 otherwise. Standard library only.
"""

import http.client
import ssl
import sys

TARGET = "/run/dockerable/healthcheck"


def main():
    try:
        with open(TARGET, encoding="utf-8") as handle:
            scheme, port, host = handle.read().split()
    except (OSError, ValueError) as error:
        print(f"healthcheck: {TARGET} unreadable ({error}): cmd.sh has not finished", file=sys.stderr)
        return 1
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection("127.0.0.1", int(port), timeout=4, context=context)
    else:
        connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=4)
    try:
        connection.request("GET", "/healthz", headers={"Host": host})
        response = connection.getresponse()
        body = response.read(500).decode(errors="replace")
    except OSError as error:
        print(f"healthcheck: {scheme}://127.0.0.1:{port}/healthz failed: {error}", file=sys.stderr)
        return 1
    print(f"healthcheck: {response.status} {body}")
    return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())

"""Filters of the django_dockerable role."""

import hashlib
import hmac


def django_dockerable_hmac(message, key):
    """HMAC-SHA256 of ``message`` keyed with ``key``, in hex. Names a release after its configuration
    (secrets included) without revealing anything of it to whoever does not hold the key."""
    return hmac.new(str(key).encode(), str(message).encode(), hashlib.sha256).hexdigest()


def django_dockerable_name_hosts(hosts, hostvars, names, tls_mode):
    """The hosts among ``hosts`` (sorted) that get a Let's Encrypt certificate for the same names as
    this host (``names``, ``tls_mode``: this host's values, also the default for a host that does not
    set its own). Each keeps a certificate of its own; the CA's HTTP-01 request may reach any of them."""
    wanted = sorted(names)
    return [
        host
        for host in sorted(hosts)
        if hostvars[host].get("django_dockerable_tls_mode", tls_mode) == "letsencrypt"
        and sorted(hostvars[host].get("django_dockerable_server_names", names)) == wanted
    ]


def django_dockerable_acme_peer(host, hostvars, http_port):
    """host:port at which the other hosts reach ``host``'s HTTP port: django_dockerable_acme_address,
    else ansible_host, else the inventory name; an IPv6 address in brackets."""
    variables = hostvars[host]
    address = str(variables.get("django_dockerable_acme_address") or variables.get("ansible_host") or host)
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"
    return f"{address}:{variables.get('django_dockerable_http_port', http_port)}"


class FilterModule:
    def filters(self):
        return {
            "django_dockerable_hmac": django_dockerable_hmac,
            "django_dockerable_name_hosts": django_dockerable_name_hosts,
            "django_dockerable_acme_peer": django_dockerable_acme_peer,
        }

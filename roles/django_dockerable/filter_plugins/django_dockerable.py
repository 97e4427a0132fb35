"""Filters of the django_dockerable role."""

import hashlib
import hmac


def django_dockerable_hmac(message, key):
    """HMAC-SHA256 of ``message`` keyed with ``key``, in hex. Names a release after its configuration
    (secrets included) without revealing anything of it to whoever does not hold the key."""
    return hmac.new(str(key).encode(), str(message).encode(), hashlib.sha256).hexdigest()


class FilterModule:
    def filters(self):
        return {"django_dockerable_hmac": django_dockerable_hmac}

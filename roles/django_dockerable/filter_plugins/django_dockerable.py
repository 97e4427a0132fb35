"""Filters of the django_dockerable role."""

import hashlib
import hmac
import re


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


def _pattern(rule, key):
    pattern = rule.get(key)
    if isinstance(pattern, (list, tuple)):
        pattern = "".join(str(part) for part in pattern)
    return pattern


def _whole_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return None


def _shown(value):
    return repr(value) if isinstance(value, str) else str(value)


def _rule_problem(rule, value):
    """What ``value`` must be, if it breaks ``rule``; else None."""
    if "range" in rule:
        low, high = (int(part) for part in str(rule["range"]).split(":"))
        rule = {**rule, "min": low, "max": high}
    if "min" in rule or "max" in rule:
        number = _whole_number(value)
        low, high = rule.get("min"), rule.get("max")
        if number is None or (low is not None and number < low) or (high is not None and number > high):
            return f"a whole number from {low} to {high}"
    is_list = isinstance(value, (list, tuple))
    if rule.get("type") == "list":
        if not is_list or len(value) < rule.get("min_length", 0):
            return rule["rule"]
    elif is_list and ("pattern" in rule or "keys_pattern" in rule):
        return rule["rule"]
    pattern = _pattern(rule, "pattern")
    items = value if is_list else [value]
    if pattern and any(
        isinstance(item, (dict, list, tuple, bool)) or not re.fullmatch(pattern, str(item)) for item in items
    ):
        return rule["rule"]
    keys_pattern = _pattern(rule, "keys_pattern")
    if keys_pattern and (
        not isinstance(value, dict)
        or any(not re.fullmatch(keys_pattern, str(key)) or key in (rule.get("reserved") or []) for key in value)
    ):
        return rule["rule"]
    return None


def django_dockerable_rule_errors(options, values, rules, others=None):
    """The messages for the variables whose value breaks its rule: ``options`` is
    meta/argument_specs.yml's options (a text variable must be text: the specification would turn a
    list into its text), ``values`` their values in the same order, ``rules`` vars/main.yml's
    __django_dockerable_rules, ``others`` the values of the variables that rules' ``when`` refer to.
    Each message names the variable, its value (never a secret's, nor a dictionary's values) and the
    rule."""
    others = others or {}
    errors = []
    for (name, option), value in zip(options.items(), values, strict=True):
        secret = option.get("no_log", False)
        if option.get("type") == "str" and not isinstance(value, str):
            errors.append(f"{name} is {'not text' if secret else _shown(value)}: it must be text.")
            continue
        rule = rules.get(name)
        if not rule or any(others.get(other) != wanted for other, wanted in (rule.get("when") or {}).items()):
            continue
        problem = _rule_problem(rule, value)
        if problem:
            # Of a dictionary, the names only: its values may be secrets.
            shown = _shown(sorted(value)) if isinstance(value, dict) else "a secret" if secret else _shown(value)
            errors.append(f"{name} is {shown}: it must be {problem}.")
    return errors


class FilterModule:
    def filters(self):
        return {
            "django_dockerable_hmac": django_dockerable_hmac,
            "django_dockerable_name_hosts": django_dockerable_name_hosts,
            "django_dockerable_acme_peer": django_dockerable_acme_peer,
            "django_dockerable_rule_errors": django_dockerable_rule_errors,
        }

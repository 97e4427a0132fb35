"""Filters of the django_dockerable role."""

import hashlib
import hmac
import math
import re
import shlex
from fractions import Fraction


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


def django_dockerable_batches(hosts, serial):
    """``hosts`` in batches of ``serial`` (a number of hosts, or a percentage of them, rounded down
    but at least one), in their order, as Ansible's ``serial`` makes them; 0, a negative number or
    anything that is not a number: all in one batch (preflight refuses those first)."""
    hosts = list(hosts)
    text = str(serial).strip()
    try:
        size = max(1, math.floor(len(hosts) * float(text[:-1]) / 100)) if text.endswith("%") else int(text)
    except ValueError:
        size = 0
    if size <= 0:
        size = len(hosts) or 1
    return [hosts[start : start + size] for start in range(0, len(hosts), size)]


def django_dockerable_split(command):
    """A command line split into its arguments as a POSIX shell would (quotes, backslashes), without
    any of the shell's expansions: ``migrate --plan`` -> ``['migrate', '--plan']``."""
    return shlex.split(str(command))


_JOB_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CRON_FIELD = r"[0-9A-Za-z*/,-]+"
_SCHEDULE = re.compile(rf"@(yearly|annually|monthly|weekly|daily|midnight|hourly)|{_CRON_FIELD}( +{_CRON_FIELD}){{4}}")


def _command_problem(command):
    """Why ``command`` (manage.py's arguments, as text) cannot be run, if it cannot."""
    if not isinstance(command, str) or not command.strip():
        return "must be manage.py's arguments as text, e.g. clearsessions"
    if "\n" in command:
        return "must be one line"
    try:
        shlex.split(command)
    except ValueError as error:
        return f"cannot be split into arguments ({error})"
    return None


def django_dockerable_command_errors(command, variable):
    """The message for ``variable`` when its ``command`` cannot be run, as a list (empty: it can)."""
    problem = _command_problem(command)
    return [f"{variable} is {_shown(command)}: it {problem}."] if problem else []


def django_dockerable_scheduled_errors(jobs):
    """The messages for the entries of django_dockerable_scheduled_commands that cron could not run:
    each names the entry, the field and what it must be."""
    errors, seen = [], set()
    for index, job in enumerate(jobs):
        where = f"django_dockerable_scheduled_commands[{index}]"
        name = job.get("name")
        if not isinstance(name, str) or not _JOB_NAME.fullmatch(name):
            errors.append(f"{where}.name is {_shown(name)}: it must be lowercase letters, digits, '-' and '_'.")
        elif name in seen:
            errors.append(f"{where}.name is {name!r}, the name of an earlier entry: each needs a name of its own.")
        seen.add(name)
        schedule = job.get("schedule")
        if not isinstance(schedule, str) or not _SCHEDULE.fullmatch(schedule.strip()):
            errors.append(
                f"{where}.schedule is {_shown(schedule)}: it must be cron's five fields (minute hour day month"
                " weekday, e.g. '23 4 * * *') or one of @hourly, @daily, @weekly, @monthly, @yearly."
            )
        problem = _command_problem(job.get("command"))
        if problem:
            errors.append(f"{where}.command is {_shown(job.get('command'))}: it {problem}.")
    return errors


def _key_values(text):
    """``key=value`` lines as a dict (the first '=' of a line separates)."""
    pairs = (line.split("=", 1) for line in str(text or "").splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _media(media, maintenance, healthz_answered, healthz_media=None):
    """The uploads' cell and problem (None: no problem). Local uploads, or an object store that nginx
    proxies (``storage`` s3, ``serve`` nginx): from the answer to the probe that configure.yml (or the
    release's /healthz, in the store) puts in the uploads: ``media`` holds its status, content and
    msg, its URL path, the content expected and where the uploads are (``directory``: the host's
    directory, or the store's URL). An object store that browsers reach directly (``serve`` store):
    from what /healthz says of it (``healthz_media``). Only for a host where a release serves."""
    status, path, directory = media.get("status", -1), media.get("path"), media.get("directory")
    in_store = media.get("storage") == "s3"
    if in_store and media.get("serve") != "nginx":
        if healthz_media == "ok":
            return "ok (store)", None
        if not healthz_media:
            return "?", None
        problem = f"the uploads' object store does not answer the serving release: {str(healthz_media)[:300]}"
        return "store fails", problem
    if status == 200 and media.get("content") == media.get("expected"):
        return "ok", None
    if status == 503 and maintenance:
        # Maintenance closes /media/ too (nginx-maintenance.conf): meant, not a fault.
        return "503 (maintenance)", None
    if status is None or status <= 0:
        # When /healthz has no answer either, its problem already names the cause (ports, container).
        problem = f"uploads are not served: {path} does not answer: {str(media.get('msg', ''))[:200]}"
        return "no answer", problem if healthz_answered else None
    if in_store:
        why = {
            200: f"not the probe that the release writes to {directory}: nginx serves /media/ from elsewhere",
            403: f"{directory} must be readable without a key from the hosts (django_dockerable_media_s3_serve: nginx)",
            404: f"the probe is not in {directory}: the serving release's /healthz writes it there",
            502: f"nginx cannot reach {directory}: its error log in the serving release's container says why",
        }.get(status, "nginx's error log in the serving release's container says why")
    elif status == 200:
        why = f"not the probe that a deploy writes to {directory}: nginx serves /media/ from elsewhere"
    elif status == 403:
        why = f"nginx's workers must be able to read {directory}: mode 0755, the files in it 0644"
    elif status == 404:
        why = f"the probe is not in {directory}, or the container does not mount that directory: deploy again"
    else:
        why = "nginx's error log in the serving release's container says why"
    text = "200 (other content)" if status == 200 else str(status)
    return text, f"uploads are not served: {path} answered {status} ({why})"


def _renewal_detail(renewal):
    """The last renewal in words, from renew.sh's record: its outcome, whether a certificate was
    renewed and whether ARI drove it, with the CA's window (a record from before ARI has no ari=)."""
    text = f"{renewal.get('result', '?')} at {renewal.get('time', '?')}, renewed {renewal.get('renewed') or '?'}"
    ari = renewal.get("ari")
    if not ari:
        return text
    start, end = renewal.get("window_start"), renewal.get("window_end")
    window = f" (window {start} to {end})" if start and end else ""
    words = {
        "yes": "an ARI renewal, inside the CA's window",
        "no": "not an ARI renewal",
        "unavailable": "the CA gave no ARI window",
    }
    return f"{text}; ARI {ari}: {words.get(ari, '?')}{window}"


def django_dockerable_status(found, host, tls_mode, warn_days, container_prefix):
    """One host's status (playbooks/status.yml) from what tasks/status.yml read: ``found`` holds the
    files' text (current, previous, lock, renewal, maintenance), the releases' descriptions, the
    container's inspection, the /healthz answer, the answer to the uploads' probe, ``dockerable-tls
    info``'s output and the audit log's last lines. Returns the table's cells, the details, and the
    problems that make status fail: no release, a container not running or unhealthy, /healthz not
    200 from the serving release, uploads not served (the probe not 200 with its content, outside
    maintenance), no certificate or one that expires within ``warn_days`` days (or a quarter of its
    lifetime, if sooner), a certificate on disk that nginx does not serve, a failed last renewal."""
    files = found["files"]
    created = {release.get("release"): release.get("created", "?") for release in found["releases"]}
    current, previous = files["current"], files["previous"]
    problems = []
    if not current:
        problems.append("no release serves here")

    container = found.get("container") or {}
    state = container.get("State") or {}
    health = (state.get("Health") or {}).get("Status", "no check")
    if current and found.get("docker"):
        container_text = "no Docker"
        problems.append(f"Docker does not answer: {str(found['docker'])[:200]}")
    elif current and not container:
        container_text = "missing"
        problems.append(f"the serving release's container {container_prefix}-{current} does not exist")
    elif current:
        container_text = f"{state.get('Status', '?')}, {health}"
        if not state.get("Running"):
            problems.append(f"the serving release's container is {state.get('Status', '?')}")
        elif health == "unhealthy":
            problems.append("Docker's health check calls the serving release's container unhealthy")
    else:
        container_text = "-"

    answer = found["health"]
    served = (answer.get("json") or {}).get("release", "")
    if answer.get("status") == 200 and served == current:
        health_text = "200"
    elif answer.get("status", -1) > 0:
        health_text = f"{answer['status']} ({served or 'no release named'})"
        problems.append(
            f"/healthz answers {answer['status']} from release {served or '?'}, not 200 from {current or '?'}"
        )
    else:
        health_text = "no answer"
        problems.append(f"/healthz does not answer: {str(answer.get('msg', ''))[:200]}")

    media_text = "-"
    if current:
        media_text, media_problem = _media(
            found.get("media") or {},
            bool(files["maintenance"]),
            answer.get("status", -1) > 0,
            (answer.get("json") or {}).get("media"),
        )
        if media_problem:
            problems.append(media_problem)

    certificate, certificate_text = {}, "-"
    if tls_mode == "letsencrypt":
        certificate = _key_values(found.get("certificate"))
        if certificate.get("certificate") != "letsencrypt":
            certificate_text = "none"
            problems.append("no Let's Encrypt certificate (nginx serves a temporary self-signed one)")
        else:
            seconds_left = int(certificate.get("seconds_left", 0))
            lifetime = int(certificate.get("lifetime_seconds", 0))
            threshold = min(int(warn_days) * 86400, lifetime / 4)
            certificate_text = f"{certificate.get('days_left', '?')} days left"
            if seconds_left < threshold:
                problems.append(
                    f"the certificate expires on {certificate.get('expires')} ({seconds_left // 3600} hours left:"
                    f" less than {int(threshold // 3600)} hours, django_dockerable_certificate_warn_days or a"
                    " quarter of its lifetime)"
                )
            if certificate.get("served") != "yes":
                problems.append("nginx does not serve the certificate on disk")

    renewal = _key_values(files["renewal"])
    renewal_detail = ""
    if tls_mode != "letsencrypt":
        renewal_text = "-"
    elif not renewal:
        renewal_text = "never run"
    else:
        renewal_text = f"{renewal.get('result', '?')} {renewal.get('time', '')}".strip()
        renewal_detail = _renewal_detail(renewal)
        if renewal.get("result") != "ok":
            problems.append(f"the last renewal failed ({renewal.get('time', '?')}): {renewal.get('message', '')[:300]}")

    return {
        "host": host,
        "serving": current or "none",
        "serving_since": created.get(current, "-") if current else "-",
        "previous": previous or "none",
        "previous_since": created.get(previous, "-") if previous else "-",
        "container": container_text,
        "healthz": health_text,
        "media": media_text,
        "maintenance": "on" if files["maintenance"] else "off",
        "maintenance_by": files["maintenance"],
        "certificate": certificate_text,
        "names": certificate.get("names", ""),
        "issuer": certificate.get("issuer", ""),
        "expires": certificate.get("expires", ""),
        "renewal": renewal_text,
        "renewal_detail": renewal_detail,
        "lock": files["lock"] or "free",
        "audit": list(found.get("audit") or []),
        "shell": f"docker exec -it --user django {container_prefix}-{current} python manage.py shell"
        if current
        else "",
        "problems": problems,
    }


# The status table's columns: (heading, key).
_STATUS_COLUMNS = [
    ("HOST", "host"),
    ("SERVING", "serving"),
    ("SINCE", "serving_since"),
    ("PREVIOUS", "previous"),
    ("SINCE", "previous_since"),
    ("CONTAINER", "container"),
    ("HEALTHZ", "healthz"),
    ("MEDIA", "media"),
    ("MAINTENANCE", "maintenance"),
    ("CERTIFICATE", "certificate"),
    ("RENEWAL", "renewal"),
]


def django_dockerable_status_table(statuses, environment, unreachable=()):
    """The environment's status as text: a table (a row per host), then each host's details
    (certificate, lock, shell, audit log) and problems. ``unreachable``: hosts that did not answer."""
    rows = [[heading for heading, _ in _STATUS_COLUMNS]]
    rows += [[str(status.get(key, "")) for _, key in _STATUS_COLUMNS] for status in statuses]
    rows += [[host, "unreachable"] + [""] * (len(_STATUS_COLUMNS) - 2) for host in unreachable]
    widths = [max(len(row[index]) for row in rows) for index in range(len(_STATUS_COLUMNS))]
    lines = [f"Environment {environment}", ""]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    for status in statuses:
        lines += ["", f"{status['host']}:"]
        if status["names"]:
            lines.append(f"  certificate: {status['names']}, issued by {status['issuer']}, expires {status['expires']}")
        if status.get("renewal_detail"):
            lines.append(f"  renewal: {status['renewal_detail']}")
        lines.append(f"  lock: {status['lock']}")
        if status["maintenance_by"]:
            lines.append(f"  maintenance: {status['maintenance_by']}")
        if status["shell"]:
            lines.append(f"  shell: {status['shell']}")
        lines.append("  audit log:")
        lines += [f"    {line}" for line in status["audit"]] or ["    (empty)"]
        lines += [f"  PROBLEM: {problem}" for problem in status["problems"]]
    for host in unreachable:
        lines += ["", f"{host}:", "  PROBLEM: the host did not answer"]
    problems = len(django_dockerable_status_problems(statuses, unreachable))
    lines += ["", f"{problems} problem(s)." if problems else "No problem."]
    return "\n".join(lines)


def django_dockerable_status_problems(statuses, unreachable=()):
    """Every problem of the environment, each as 'host: problem'."""
    problems = [f"{status['host']}: {problem}" for status in statuses for problem in status["problems"]]
    return problems + [f"{host}: the host did not answer" for host in unreachable]


# Let's Encrypt's limit on certificates for one identical set of names, and its window (days).
ACME_LIMIT = 5
ACME_LIMIT_DAYS = 7
# Lifetimes of Let's Encrypt's profiles, in hours; classic's shrinks on the dates named (from then on).
_CLASSIC_LIFETIMES = [("2028-02-16", 45 * 24), ("2027-02-10", 64 * 24), ("", 90 * 24)]
_PROFILE_LIFETIMES = {"tlsserver": 45 * 24, "shortlived": 160}


def django_dockerable_acme_weekly(profile, hosts, today):
    """The certificates that ``hosts`` hosts serving one set of names issue per 7 days by renewing
    with Let's Encrypt's ``profile`` (empty: its default, classic), on the date ``today`` (YYYY-MM-DD,
    which picks classic's lifetime), counting every renewal: Let's Encrypt exempts only ARI renewals
    whose new order names the certificate it replaces (RFC 9773's ``replaces``), which certbot does
    not send yet. Each host renews its own certificate when certbot finds it due: at a third of its
    lifetime left, or half of it when the lifetime is under 10 days. The limit, 5 certificates per
    set of names per 7 days, is a token bucket (5 tokens, refilled continuously at 5 per 7 days, one
    every 33.6 hours), so for renewals that repeat forever what counts is their rate: 7 days /
    renewal interval per host, a fraction (shortlived: 168 / 80 = 2.1), times the hosts, within 5.
    ``max_hosts``: the most hosts within it (the first certificates of a fresh deploy all come at
    once, so preflight also caps the hosts at 5, whichever is smaller binds). Figures rounded for
    display (per_host to 2 decimals, certificates to 1); max_hosts exact (compare hosts with it).
    Returns the figures, or None for a profile that Let's Encrypt does not offer."""
    profile = str(profile or "classic")
    if profile == "classic":
        lifetime = next(hours for since, hours in _CLASSIC_LIFETIMES if str(today) >= since)
    elif profile in _PROFILE_LIFETIMES:
        lifetime = _PROFILE_LIFETIMES[profile]
    else:
        return None
    # Exact fractions: 5 / 2.1 in floating point must not decide a host.
    interval = Fraction(lifetime, 2) if lifetime < 10 * 24 else Fraction(lifetime * 2, 3)
    per_host = Fraction(ACME_LIMIT_DAYS * 24) / interval
    hosts = int(hosts)
    return {
        "profile": profile,
        "lifetime_hours": lifetime,
        "renewal_interval_hours": int(interval) if interval.denominator == 1 else round(float(interval), 2),
        "per_host": round(float(per_host), 2),
        "hosts": hosts,
        "certificates": round(float(per_host * hosts), 1),
        "max_hosts": math.floor(ACME_LIMIT / per_host),
        "limit": ACME_LIMIT,
    }


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


def django_dockerable_rule_errors(values, rules, text=(), secrets=(), others=None):
    """The messages for the variables whose value breaks its rule: ``values`` maps each variable that
    preflight checks to its value, ``rules`` is vars/main.yml's __django_dockerable_rules, ``text``
    the variables that must be text (type str in meta/argument_specs.yml: Ansible's own validation
    accepts a list or a number there, as its text), ``secrets`` those whose value no message shows
    (no_log), ``others`` the values of the variables that rules' ``when`` refer to. Each message names
    the variable, its value (never a secret's, nor a dictionary's values) and the rule."""
    others = others or {}
    errors = []
    for name, value in values.items():
        secret = name in secrets
        if name in text and not isinstance(value, str):
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
            "django_dockerable_acme_weekly": django_dockerable_acme_weekly,
            "django_dockerable_name_hosts": django_dockerable_name_hosts,
            "django_dockerable_acme_peer": django_dockerable_acme_peer,
            "django_dockerable_rule_errors": django_dockerable_rule_errors,
            "django_dockerable_batches": django_dockerable_batches,
            "django_dockerable_split": django_dockerable_split,
            "django_dockerable_status": django_dockerable_status,
            "django_dockerable_status_table": django_dockerable_status_table,
            "django_dockerable_status_problems": django_dockerable_status_problems,
            "django_dockerable_command_errors": django_dockerable_command_errors,
            "django_dockerable_scheduled_errors": django_dockerable_scheduled_errors,
        }

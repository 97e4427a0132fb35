"""Every variable has a complete rule, checked before any host changes (vars/main.yml's
__django_dockerable_rules, meta/argument_specs.yml's types and choices, and preflight's own checks).
Wrong values are derived from those, not written by hand: a new variable without a rule fails here."""

import json
import re
import sys

import yaml
from ansible_helpers import ROOT, ansible_playbook

from helpers import docker

ROLE = ROOT / "roles/django_dockerable"
OPTIONS = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["preflight"]["options"]
DERIVED = yaml.safe_load((ROLE / "vars/main.yml").read_text())
RULES = DERIVED["__django_dockerable_rules"]
# The formats the image checks too, as vars/main.yml reads them.
SHARED = dict(re.findall(r"^DOCKERABLE_RULE_([A-Z_]+)='(.*)'$", (ROOT / "app/dockerable/rules.env").read_text(), re.M))


def pattern_of(rule):
    pattern = rule.get("pattern")
    if isinstance(pattern, list):
        pattern = "".join(pattern)
    return pattern and re.sub(r"\{\{ __django_dockerable_shared_rules\.(\w+) \}\}", lambda m: SHARED[m[1]], pattern)


# Variables that no rule in the table covers, and why that is complete.
OWN_CHECKS = {
    "django_dockerable_environment": "preflight: an inventory group holding the host, a lowercase identifier",
    "django_dockerable_secret_key": "preflight: at least 50 characters, not a placeholder (never echoed)",
    "django_dockerable_app_dir": "preflight: a directory on the controller with manage_py and requirements",
    "django_dockerable_acme_ca_bundle": "preflight: empty or a file on the controller",
    "django_dockerable_database_password": "a secret: any string (preflight: required with postgresql)",
    "django_dockerable_registry_username": "any string the registry accepts",
    "django_dockerable_registry_password": "a secret: any string",
    "django_dockerable_renew_extra_args": "certbot's own arguments, passed as they are (quoted)",
    "django_dockerable_log_options": "the logging driver's own options (strings)",
    "django_dockerable_scheduled_commands": "preflight: each entry's name, schedule and command",
    "django_dockerable_manage": "manage.py's arguments (preflight: they split as a shell would split them)",
    "django_dockerable_media_s3_access_key": "a secret: any string (preflight: required with s3)",
    "django_dockerable_media_s3_secret_key": "a secret: any string (preflight: required with s3)",
}
# A valid environment of a host (this machine), in which every conditional rule applies.
VALID = {
    "django_dockerable_environment": "qa",
    "django_dockerable_secret_key": "k" * 20 + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
    "django_dockerable_server_names": ["www.example.com"],
    "django_dockerable_tls_mode": "letsencrypt",
    "django_dockerable_letsencrypt_email": "ops@example.com",
    "django_dockerable_database_engine": "postgresql",
    "django_dockerable_database_host": "db.example.com",
    "django_dockerable_database_name": "site",
    "django_dockerable_database_user": "site",
    "django_dockerable_database_password": "a-password",
    "django_dockerable_media_storage": "s3",
    "django_dockerable_media_s3_bucket": "uploads",
    "django_dockerable_media_s3_access_key": "an-access-key",
    "django_dockerable_media_s3_secret_key": "a-secret-key",
}
CANDIDATES = ["", "has space", "UPPER/Slash", "http://host.example", "/tmp/../etc", "bad_name!", "-x", "x" * 300]


def wrong_values(name):
    """(value, what it tests) pairs that must each be refused, derived from the option's type, choices
    and required flag, and from its rule."""
    option, rule = OPTIONS[name], RULES.get(name, {})
    kind = option.get("type", "str")
    # raw (a number or a percentage) has no type of its own: its rule says what it is.
    wrong_type = {"int": "abc", "bool": "maybe", "list": {"a": 1}, "dict": "text", "str": ["a", "list"]}.get(kind)
    values = [] if wrong_type is None else [(wrong_type, f"not a {kind}")]
    if "choices" in option:
        values.append(("not-a-choice", "not one of the choices"))
    if option.get("required"):
        values.append(("", "empty but required"))
    if "range" in rule:
        shared = re.fullmatch(r"\{\{ __django_dockerable_shared_rules\.(\w+) \}\}", rule["range"])[1]
        low, high = (int(part) for part in SHARED[shared].split(":"))
        rule = {**rule, "min": low, "max": high}
    if "min" in rule:
        values.append((rule["min"] - 1, "below its range"))
    if "max" in rule:
        values.append((rule["max"] + 1, "above its range"))
    pattern = pattern_of(rule)
    if pattern:
        bad = next(value for value in CANDIDATES if not re.fullmatch(pattern, value))
        values.append(([bad] if rule.get("type") == "list" else bad, "not of its format"))
    if rule.get("type") == "list":
        values.append(("www.example.com", "not a list"))
        if rule.get("min_length"):
            values.append(([], "shorter than its least length"))
    if "keys_pattern" in rule:
        values.append(({"not an identifier": "1"}, "a name not of its format"))
        reserved = rule.get("reserved") or []
        if isinstance(reserved, str):  # a list of vars/main.yml's, named
            reserved = DERIVED[re.fullmatch(r"\{\{ (\w+) \}\}", reserved)[1]]
        values += [({key: "1"}, f"the reserved name {key}") for key in reserved]
    return values


def test_the_image_and_the_role_read_the_same_formats(image):
    """rules.env, sourced by cmd.sh, is what the role's rules refer to."""
    assert set(SHARED) == {"HOST_NAME", "SIZE", "NETWORK", "EMAIL", "HTTPS_URL", "WORKERS", "HARAKIRI", "MAX_REQUESTS"}
    text = docker("run", "--rm", "--entrypoint", "cat", image, "/opt/dockerable/rules.env").stdout
    assert text == (ROOT / "app/dockerable/rules.env").read_text()
    for name in SHARED:
        assert f"$DOCKERABLE_RULE_{name}" in (ROOT / "app/dockerable/cmd.sh").read_text()
        assert f"__django_dockerable_shared_rules.{name}" in (ROLE / "vars/main.yml").read_text()


def test_every_variable_has_a_rule():
    """A new variable needs a rule (or a choice list, or to be a bool), or a stated reason in OWN_CHECKS."""
    missing = [
        name
        for name, option in OPTIONS.items()
        if name not in RULES and name not in OWN_CHECKS and option.get("type") != "bool" and "choices" not in option
    ]
    assert missing == []
    assert set(RULES) <= set(OPTIONS), "a rule for a variable that does not exist"


def test_every_wrong_value_is_refused_before_any_change_naming_the_variable(tmp_path):
    """One run, one host per wrong value (this machine, each time): each host stops at a check that
    names its variable, and no host's directory exists afterwards."""
    cases = {}
    for name in OPTIONS:
        for value, why in wrong_values(name):
            cases[f"case{len(cases):03d}"] = (name, value, why)
    assert len(cases) > len(OPTIONS)
    base = tmp_path / "srv"
    hosts = {
        host: {name: value, "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        for host, (name, value, _) in cases.items()
    }
    group_vars = {**VALID, "django_dockerable_base_dir": str(base)}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {"qa": {"hosts": hosts, "vars": group_vars}}}}))
    containers = qa_containers()
    result = ansible_playbook(
        "tests/role/preflight.yml", "-i", str(inventory), "--forks", "20",
        env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"},
    )  # fmt: skip
    report = json.loads(result.stdout[result.stdout.index("{") :])
    failures = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                if outcome.get("failed") and host not in failures:
                    failures[host] = (task["task"]["name"], str(outcome.get("msg", "")))
    problems = []
    for host, (name, value, why) in cases.items():
        task, message = failures.get(host, ("", "not refused"))
        if name not in message:
            problems.append(f"{name} = {value!r} ({why}): {task}: {message[:200]}")
    assert problems == [], "\n".join(problems)
    assert not base.exists()
    assert qa_containers() == containers


def qa_containers():
    """The containers that a run on the qa environment could make or change (the role names each
    <project>-qa...), by id, name and image. Other containers are not this test's: the Molecule
    scenarios run beside pytest."""
    listing = docker("ps", "--all", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Image}}").stdout.splitlines()
    return sorted(line for line in listing if re.search(r"-qa(-|$)", line.split()[1]))

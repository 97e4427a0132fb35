#!/usr/bin/env python3
"""Writes the README's table of role variables from their one source: defaults/main.yml (the
default), meta/argument_specs.yml's preflight entry point, which has every variable (the meaning, the
type, the choices) and vars/main.yml's __django_dockerable_rules (the rule preflight checks).
tests/role/test_argument_spec.py fails when the README's table differs from this.

    scripts/variables-table.py           print the table
    scripts/variables-table.py --write   replace the table in README.md
"""

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles/django_dockerable"
HEADER = "| Variable | Default | Meaning | Rule (checked before any host changes) |\n|---|---|---|---|\n"
# Variables whose rule is a check of its own in tasks/preflight.yml.
OWN_CHECKS = {
    "django_dockerable_environment": "an inventory group that holds the host; a lowercase identifier",
    "django_dockerable_secret_key": "at least 50 characters, not a placeholder",
    "django_dockerable_app_dir": "a directory on the controller holding manage_py and requirements",
    "django_dockerable_acme_ca_bundle": "empty, or a file on the controller",
    "django_dockerable_scheduled_commands": (
        "a list of {name, schedule, command}: each name lowercase letters, digits, '-' and '_', and unique; the"
        " schedule cron's five fields or @hourly, @daily, @weekly, @monthly, @yearly; the command manage.py's"
        " arguments, on one line, with balanced quotes"
    ),
    "django_dockerable_manage": "manage.py's arguments, on one line, with balanced quotes",
}


def _default(value):
    if value == "":
        return '""'
    text = yaml.safe_dump(value, default_flow_style=True, width=10000).strip()
    return text.removesuffix("\n...").strip()


def _rule(name, option, rule):
    if name in OWN_CHECKS:
        return OWN_CHECKS[name]
    if "choices" in option:
        return "one of " + ", ".join(f"`{choice}`" for choice in option["choices"])
    if option.get("type") == "bool":
        return "true or false"
    if rule:
        parts = []
        if "range" in rule:
            shared = re.fullmatch(r"\{\{ __django_dockerable_shared_rules\.(\w+) \}\}", rule["range"])[1]
            low, high = _shared()[shared].split(":")
            rule = {**rule, "min": low, "max": high}
        if "min" in rule:
            parts.append(f"a whole number from {rule['min']} to {rule['max']}")
        if "rule" in rule:
            parts.append(re.sub(r"\s+", " ", rule["rule"]).strip())
        text = "; ".join(parts)
        if rule.get("when"):
            other, value = next(iter(rule["when"].items()))
            text += f" (when {other} is {value})"
        for name in ("owned_settings", "owned_environment"):
            text = text.replace(f"{{{{ __django_dockerable_{name} | join(', ') }}}}", ", ".join(_owned(name)))
        return text
    return {"str": "text", "list": "a list of text", "dict": "a dictionary of text"}.get(option.get("type"), "")


def _shared():
    text = (ROOT / "app/dockerable/rules.env").read_text()
    return dict(re.findall(r"^DOCKERABLE_RULE_([A-Z_]+)='(.*)'$", text, re.M))


def _owned(name):
    return yaml.safe_load((ROLE / "vars/main.yml").read_text())[f"__django_dockerable_{name}"]


def table():
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    options = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["preflight"]["options"]
    rules = yaml.safe_load((ROLE / "vars/main.yml").read_text())["__django_dockerable_rules"]
    rows = []
    for name, option in options.items():
        default = "required" if option.get("required") else _default(defaults[name])
        description = option["description"]
        description = " ".join(description) if isinstance(description, list) else description
        meaning = re.sub(r"\s+", " ", description).strip()
        rows.append(f"| `{name}` | `{default}` | {meaning} | {_rule(name, option, rules.get(name))} |")
    return HEADER + "\n".join(rows) + "\n"


def readme_table(text):
    """The README's current table (from its header to the blank line after it)."""
    start = text.index("| Variable | Default | Meaning |")
    end = text.index("\n\n", start) + 1
    return start, end


def main():
    generated = table()
    if sys.argv[1:] == ["--write"]:
        readme = ROOT / "README.md"
        text = readme.read_text()
        start, end = readme_table(text)
        readme.write_text(text[:start] + generated + text[end:])
    else:
        sys.stdout.write(generated)


if __name__ == "__main__":
    main()

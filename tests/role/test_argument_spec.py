"""meta/argument_specs.yml describes exactly the variables that defaults/main.yml defines."""

import importlib.util

import yaml

from helpers import ROOT

ROLE = ROOT / "roles/django_dockerable"


def load(path):
    return yaml.safe_load((ROLE / path).read_text())


def test_argument_spec_and_defaults_list_the_same_variables():
    defaults = set(load("defaults/main.yml"))
    options = set(load("meta/argument_specs.yml")["argument_specs"]["main"]["options"])
    assert sorted(defaults - options) == [], "defined in defaults/main.yml but not in meta/argument_specs.yml"
    assert sorted(options - defaults) == [], "described in meta/argument_specs.yml but not in defaults/main.yml"


def test_every_option_is_described_and_typed():
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert name.startswith("django_dockerable_"), name
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("type"), f"{name} has no type"


def test_every_default_is_documented_where_it_is_defined():
    """Each variable in defaults/main.yml has a comment in its group (the line or block above it)."""
    lines = (ROLE / "defaults/main.yml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("django_dockerable_"):
            above = lines[max(0, index - 12) : index]
            assert any(entry.startswith("#") for entry in above) or "#" in line, f"undocumented: {line}"


def test_secrets_are_strings_and_hidden():
    """A type error in an argument spec echoes the value, even with no_log: secrets are plain strings."""
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    for name in ("secret_key", "database_password", "registry_password"):
        spec = options[f"django_dockerable_{name}"]
        assert spec["type"] == "str"
        assert spec["no_log"] is True


def test_every_variable_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in load("defaults/main.yml") if f"`{name}`" not in readme]
    assert missing == []


def test_the_readme_table_is_generated_from_the_role():
    """Each variable's default, meaning and rule in the README come from the role's own files
    (scripts/variables-table.py --write), so they cannot drift apart."""
    spec = importlib.util.spec_from_file_location("variables_table", ROOT / "scripts/variables-table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (ROOT / "README.md").read_text()
    start, end = module.readme_table(readme)
    assert readme[start:end] == module.table(), "run scripts/variables-table.py --write"


def test_argument_spec_defaults_are_the_role_defaults():
    """The default that Ansible validates against is the one the role uses."""
    defaults = load("defaults/main.yml")
    options = load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    different = {
        name: (spec["default"], defaults[name])
        for name, spec in options.items()
        if "default" in spec and spec["default"] != defaults[name]
    }
    assert different == {}, "argument spec default != defaults/main.yml"
    # A default computed from other variables ({{ ... }}) is stated in the description instead.
    undeclared = [
        name
        for name, spec in options.items()
        if "default" not in spec
        and not spec.get("required")
        and defaults[name] not in ("", None)
        and "{{" not in str(defaults[name])
    ]
    assert undeclared == [], "a default in defaults/main.yml that the argument spec does not state"


def test_derived_values_and_facts_have_private_names():
    """An inventory cannot set a role var (role vars win over group_vars), nor should it believe it
    can: what the role derives or keeps as the run's state has the private prefix."""
    public = [name for name in load("vars/main.yml") if not name.startswith("__django_dockerable_")]
    assert public == [], "vars/main.yml: derived values are __django_dockerable_*"
    facts = []
    for path in sorted((ROLE / "tasks").glob("*.yml")) + sorted((ROOT / "playbooks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            for name in task.get("ansible.builtin.set_fact") or {}:
                if not name.startswith("__django_dockerable_"):
                    facts.append(f"{path.name}: {name}")
    assert facts == [], "set_fact writes a name that is not private"


def _tasks(entries):
    """Every task of a task file or playbook, inside blocks and plays too."""
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        yield entry
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            yield from _tasks(entry.get(key) or [])

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

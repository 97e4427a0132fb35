"""meta/argument_specs.yml: an entry point for each task file that a playbook runs, each listing the
variables its files read (computed here from the files), preflight's listing every variable of
defaults/main.yml, each option defined once."""

import importlib.util
import inspect
import re

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible_helpers import ansible_playbook

import django_dockerable as filters
from helpers import ROOT

ROLE = ROOT / "roles/django_dockerable"
# Task files that playbooks run without an entry point, and why.
UNVALIDATED = {
    # Ansible's check of an entry point is a task on every host of the play, which loads each host's
    # variables, vault files included: `ansible-playbook deploy.yml` without -l would stop at the
    # first environment whose vault password is missing, instead of asking for one environment.
    "environment": "runs before anything loads the hosts' (vault) variables",
}
INCLUDES = ("ansible.builtin.include_tasks", "ansible.builtin.import_tasks", "include_tasks", "import_tasks")
ROLE_INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")
# A role variable: not a private name (__django_dockerable_*), which the lookbehind leaves out.
PUBLIC = re.compile(r"(?<!\w)django_dockerable_[a-z0-9_]+")
PRIVATE = re.compile(r"__django_dockerable_[a-z0-9_]+")
TEMPLATE = re.compile(r"[\w.-]+\.j2\b")


def load(path):
    return yaml.safe_load((ROLE / path).read_text())


SPECS = load("meta/argument_specs.yml")["argument_specs"]
OPTIONS = SPECS["preflight"]["options"]
DEFAULTS = load("defaults/main.yml")
DERIVED = load("vars/main.yml")
FILTERS = filters.FilterModule().filters()


def _scalars(data):
    """Every key and value of a YAML document, as text (its comments are not data)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield str(key)
            yield from _scalars(value)
    elif isinstance(data, list):
        for value in data:
            yield from _scalars(value)
    elif data is not None:
        yield str(data)


def _tasks(entries):
    """Every task of a task file or playbook, inside blocks and plays too."""
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        yield entry
        for key in ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always"):
            yield from _tasks(entry.get(key) or [])


def inputs(entry_point):
    """The role variables that an entry point reads: in its task file, the task files that includes
    (transitively), the templates they render, vars/main.yml's derived values they use, the defaults
    of the variables they read, and the filters' own reading of hostvars, each followed in turn."""
    found, seen, pending = set(), set(), [("tasks", f"{entry_point}.yml")]
    while pending:
        kind, name = pending.pop()
        if (kind, name) in seen:
            continue
        seen.add((kind, name))
        if kind == "tasks":
            data = yaml.safe_load((ROLE / "tasks" / name).read_text()) or []
            text = "\n".join(_scalars(data))
            for task in _tasks(data):
                for key in INCLUDES:
                    if key in task:
                        included = task[key]["file"] if isinstance(task[key], dict) else task[key]
                        pending.append(("tasks", included))
        elif kind == "template":
            text = re.sub(r"\{#.*?#\}", "", (ROLE / "templates" / name).read_text(), flags=re.DOTALL)
        elif kind == "derived":
            text = "\n".join(_scalars(DERIVED[name]))
        elif kind == "default":
            text = "\n".join(_scalars(DEFAULTS[name]))
        else:
            text = inspect.getsource(FILTERS[name])
        pending += [("template", file) for file in TEMPLATE.findall(text) if (ROLE / "templates" / file).exists()]
        pending += [("derived", value) for value in PRIVATE.findall(text) if value in DERIVED]
        for variable in PUBLIC.findall(text):
            if variable in FILTERS:
                pending.append(("filter", variable))
            elif variable in DEFAULTS:
                found.add(variable)
                pending.append(("default", variable))
    return found


def used_entry_points():
    """{tasks_from: [playbook, ...]} of every playbook that runs the role: the project's, the tests'
    and the Molecule scenarios'."""
    used = {}
    paths = [ROOT / "deploy.yml", *(ROOT / "playbooks").glob("*.yml")]
    paths += [*(ROOT / "tests").rglob("*.yml"), *(ROOT / "molecule").rglob("*.yml"), *(ROOT / "bench").rglob("*.yml")]
    for path in sorted(paths):
        text = path.read_text()
        if text.startswith("$ANSIBLE_VAULT") or "tasks_from" not in text:
            continue
        for task in _tasks(yaml.safe_load(text) or []):
            for key in ROLE_INCLUDES:
                if isinstance(task.get(key), dict) and "tasks_from" in task[key]:
                    used.setdefault(task[key]["tasks_from"], []).append(str(path.relative_to(ROOT)))
    return used


def test_every_entry_point_that_a_playbook_runs_has_an_argument_spec():
    """Ansible looks the entry point up by tasks_from as it is written: `preflight`, not
    `preflight.yml`. Each named entry point is a task file, and each one is run by a playbook."""
    used = used_entry_points()
    assert used, "no playbook runs the role"
    with_extension = {name: paths for name, paths in used.items() if name.endswith((".yml", ".yaml"))}
    assert with_extension == {}, "tasks_from without .yml, as the argument specs name the entry points"
    missing = {name: paths for name, paths in used.items() if name not in SPECS and name not in UNVALIDATED}
    assert missing == {}, "an entry point without an argument spec in meta/argument_specs.yml"
    assert sorted(set(SPECS) & set(UNVALIDATED)) == [], "an argument spec for an entry point that must have none"
    assert sorted(set(SPECS) - set(used)) == [], "an argument spec for an entry point that no playbook runs"
    for name in SPECS:
        assert (ROLE / "tasks" / f"{name}.yml").is_file(), name
        assert SPECS[name].get("short_description"), f"{name} has no short_description"


def _playbook(path, tasks):
    path.write_text(yaml.safe_dump([{"name": "Entry points", "hosts": "all", "gather_facts": False, "tasks": tasks}]))
    return str(path)


def _run(module, entry_point):
    return {"name": f"Run {entry_point}", module: {"name": "django_dockerable", "tasks_from": entry_point}}


def test_ansible_validates_each_entry_point_before_its_tasks(tmp_path):
    """Ansible finds each entry point's argument spec under tasks_from as the playbooks write it, and
    puts its check first; a wrong value stops the entry point there, naming the variable (docker, in
    check mode: the check stops it before it looks for Docker)."""
    imports = [_run("ansible.builtin.import_role", name) for name in [*SPECS, *UNVALIDATED]]
    listing = ansible_playbook(_playbook(tmp_path / "all.yml", imports), "-i", "localhost,", "--list-tasks")
    assert listing.returncode == 0, listing.stdout[-3000:]
    checked = re.findall(r"Validating arguments against arg spec '([\w-]+)'", listing.stdout)
    assert sorted(checked) == sorted(SPECS)

    docker = _playbook(tmp_path / "docker.yml", [_run("ansible.builtin.include_role", "docker")])
    result = ansible_playbook(
        docker, "-i", "localhost,", "-c", "local", "--check", "-e", "django_dockerable_install_docker=maybe"
    )
    text = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "Validating arguments against arg spec 'docker'" in text
    assert "argument 'django_dockerable_install_docker' is of type str and we were unable to convert to bool" in text
    assert "Look for Docker and Compose v2 on the host" not in text


def test_every_entry_point_lists_the_variables_its_files_read():
    """Computed from the files, so the argument specs cannot drift from them; preflight lists every
    variable (it checks them all before any host is changed)."""
    problems = []
    for name, spec in SPECS.items():
        read = set(DEFAULTS) if name == "preflight" else inputs(name)
        options = set(spec.get("options") or {})
        problems += [f"{name}: reads {variable}, not in its options" for variable in sorted(read - options)]
        problems += [f"{name}: lists {variable}, which its files do not read" for variable in sorted(options - read)]
    assert problems == []
    assert inputs("preflight") <= set(OPTIONS)


def test_every_option_is_defined_once():
    """preflight defines each option (&name); every other entry point refers to that definition
    (*name), as Ansible's own loader reads the file too."""
    for name, spec in SPECS.items():
        for variable, option in (spec.get("options") or {}).items():
            assert option is OPTIONS[variable], f"{name}: {variable} is not an alias of preflight's"
    text = (ROLE / "meta/argument_specs.yml").read_text()
    anchors = re.findall(r"^      django_dockerable_([a-z0-9_]+): &([a-z0-9_]+)$", text, re.MULTILINE)
    assert len(anchors) == len(OPTIONS) and all(option == anchor for option, anchor in anchors)
    assert DataLoader().load_from_file(str(ROLE / "meta/argument_specs.yml")) == {"argument_specs": SPECS}


def test_argument_spec_and_defaults_list_the_same_variables():
    options = set(OPTIONS)
    assert sorted(set(DEFAULTS) - options) == [], "defined in defaults/main.yml but not in meta/argument_specs.yml"
    assert sorted(options - set(DEFAULTS)) == [], "described in meta/argument_specs.yml but not in defaults/main.yml"


def test_every_option_is_described_and_typed():
    for name, spec in OPTIONS.items():
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


def test_secrets_are_hidden_and_never_echoed():
    """Every Vault variable of defaults/main.yml is no_log. Ansible's message for a wrong value echoes
    it for an int (not a number) or a choice (not one of them), even with no_log; for a str, a dict
    or a raw it does not: secrets have those types, and no choices."""
    vault = {line.split(":")[0] for line in (ROLE / "defaults/main.yml").read_text().splitlines() if "# Vault" in line}
    assert {"django_dockerable_secret_key", "django_dockerable_database_password"} <= vault
    assert sorted(name for name in vault if not OPTIONS[name].get("no_log")) == []
    for name in ("secret_key", "database_password", "registry_password"):
        assert OPTIONS[f"django_dockerable_{name}"]["no_log"] is True
    for name, option in OPTIONS.items():
        if option.get("no_log"):
            assert option["type"] in ("str", "dict", "raw"), name
            assert "choices" not in option, name


def test_preflight_knows_the_text_variables_and_the_secrets():
    """vars/main.yml's lists for the rule check (it does not read meta/argument_specs.yml) are the
    argument spec's str options and no_log options."""
    text = [name for name, option in OPTIONS.items() if option["type"] == "str"]
    secrets = [name for name, option in OPTIONS.items() if option.get("no_log")]
    assert DERIVED["__django_dockerable_text_variables"] == text
    assert DERIVED["__django_dockerable_secret_variables"] == secrets
    assert set(DERIVED["__django_dockerable_rules"]) <= set(OPTIONS)
    assert "lookup('ansible.builtin.file'" not in (ROLE / "tasks/preflight.yml").read_text()


def test_every_variable_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in DEFAULTS if f"`{name}`" not in readme]
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
    different = {
        name: (spec["default"], DEFAULTS[name])
        for name, spec in OPTIONS.items()
        if "default" in spec and spec["default"] != DEFAULTS[name]
    }
    assert different == {}, "argument spec default != defaults/main.yml"
    # A default computed from other variables ({{ ... }}) is stated in the description instead.
    undeclared = [
        name
        for name, spec in OPTIONS.items()
        if "default" not in spec
        and not spec.get("required")
        and DEFAULTS[name] not in ("", None)
        and "{{" not in str(DEFAULTS[name])
    ]
    assert undeclared == [], "a default in defaults/main.yml that the argument spec does not state"


def test_derived_values_and_facts_have_private_names():
    """An inventory cannot set a role var (role vars win over group_vars), nor should it believe it
    can: what the role derives or keeps as the run's state has the private prefix."""
    public = [name for name in DERIVED if not name.startswith("__django_dockerable_")]
    assert public == [], "vars/main.yml: derived values are __django_dockerable_*"
    facts = []
    for path in sorted((ROLE / "tasks").glob("*.yml")) + sorted((ROOT / "playbooks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            for name in task.get("ansible.builtin.set_fact") or {}:
                if not name.startswith("__django_dockerable_"):
                    facts.append(f"{path.name}: {name}")
    assert facts == [], "set_fact writes a name that is not private"

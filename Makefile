# The README's commands. `make deploy` and `make test` each prepare the machine first.
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
SHELL_SCRIPTS := $(shell git ls-files -co --exclude-standard '*.sh' 2>/dev/null) .ci/run
DOCKERFILES := app/dockerable/Dockerfile tests/images/postgres/Dockerfile molecule/images/host/Dockerfile \
	molecule/images/pebble/Dockerfile bench/images/gunicorn/Dockerfile bench/images/original/Dockerfile \
	bench/images/tcp/Dockerfile molecule/images/s3/Dockerfile
PLAYBOOKS := deploy.yml playbooks/deploy.yml playbooks/rollback.yml playbooks/status.yml playbooks/manage.yml \
	playbooks/maintenance.yml playbooks/backup.yml playbooks/restore.yml

.PHONY: setup collections deploy test lint pytest molecule image bench bench-quick

setup:
	scripts/setup.sh

collections: setup
	ansible-galaxy collection install -r requirements.yml

# Deploys the `local` environment to this machine: http://localhost:8000
deploy: collections
	ansible-playbook deploy.yml -l local

image: setup
	scripts/build-image.sh

lint: collections
	ruff check .
	ruff format --check .
	shellcheck $(SHELL_SCRIPTS)
	hadolint $(DOCKERFILES)
	yamllint --strict .
	ansible-lint
	for playbook in $(PLAYBOOKS); do ansible-playbook --syntax-check -l local $$playbook || exit 1; done

# PYTEST_ARGS: pytest's own arguments, e.g. a test file (make test splits the tests in two).
pytest: collections
	pytest $(PYTEST_ARGS)

# Multi-host scenarios: hosts with their own Docker engines, Pebble, a shared PostgreSQL; all of them,
# or those named in SCENARIOS. (The world of the deploy and downtime benchmarks is bench/molecule/.)
ALL_SCENARIOS := $(shell ls molecule | grep -vE '^(shared|images)$$')
SCENARIOS ?= $(ALL_SCENARIOS)
molecule: collections
	@for scenario in $(SCENARIOS); do \
	  started=$$(date +%s); \
	  molecule test --scenario-name $$scenario || exit 1; \
	  echo "molecule: scenario $$scenario passed in $$(( $$(date +%s) - started )) s"; \
	done

# Benchmarks on demand (bench/results/*.json, docs/benchmarks.md); about 35 minutes here.
bench: collections
	pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	python bench/run.py

# CI: a short serving benchmark proves the benchmark still works; its figures are not published.
bench-quick: collections
	python bench/run.py --quick serving

# The README's test command: the linters, the image once (cold on a new machine), then two streams
# side by side (each line prefixed with its name), of about the same length: pytest, and the short
# serving benchmark, the backup and restore tests (a pytest run of their own, which shares nothing
# with the first: own names, ports and temporary directory), the scenarios of staging.test, one at a
# time (they share names), then the bare scenario (bare.test). The streams share this machine's
# Docker engine and nothing on it (container, network and image names).
STAGING_SCENARIOS := $(filter-out bare,$(ALL_SCENARIOS))
SECOND_STREAM_TESTS := tests/role/test_backup_restore.py
test: lint image
	scripts/side-by-side.sh \
	  pytest "$(MAKE) --no-print-directory pytest PYTEST_ARGS='--ignore=$(SECOND_STREAM_TESTS)'" \
	  scenarios "$(MAKE) --no-print-directory bench-quick && $(MAKE) --no-print-directory pytest PYTEST_ARGS='--basetemp=$${TMPDIR:-/tmp}/dockerable-pytest-second $(SECOND_STREAM_TESTS)' && $(MAKE) --no-print-directory molecule SCENARIOS='$(STAGING_SCENARIOS) bare'"

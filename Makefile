# The README's commands. `make deploy` and `make test` each prepare the machine first.
VENV := .venv
BIN := $(VENV)/bin
SHELL_SCRIPTS := $(shell git ls-files -co --exclude-standard '*.sh' 2>/dev/null) .ci/run
DOCKERFILES := app/dockerable/Dockerfile tests/images/postgres/Dockerfile

.PHONY: setup deploy test lint pytest image

setup:
	scripts/setup.sh

deploy: setup
	scripts/run-local.sh

image: setup
	scripts/build-image.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	shellcheck $(SHELL_SCRIPTS)
	$(BIN)/hadolint $(DOCKERFILES)
	$(BIN)/yamllint --strict .

pytest: setup
	$(BIN)/pytest

test: lint pytest

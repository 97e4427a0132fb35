#!/usr/bin/env bash
# Prints the release id (image tag) of a Django project: the first 12 hex digits of a SHA-256 over
# every file that goes into its image and the build's inputs (build-plan.py says which). The same
# project always gives the same id, on any machine; any change to what is built gives a new one.
# Inputs as build-plan.py takes them (APP_DIR, SETTINGS_MODULE, ...; default: the demo in app/).
set -euo pipefail
exec python3 "$(dirname "$0")/build-plan.py" --id

#!/usr/bin/env bash
# Writes the password file from REGISTRY_USER and REGISTRY_PASSWORD, then serves.
set -euo pipefail
: "${REGISTRY_USER:?REGISTRY_USER is required}"
: "${REGISTRY_PASSWORD:?REGISTRY_PASSWORD is required}"
htpasswd -Bbc /etc/registry/htpasswd "$REGISTRY_USER" "$REGISTRY_PASSWORD" 2>/dev/null
exec docker-registry serve /etc/registry/config.yml

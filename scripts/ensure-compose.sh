#!/usr/bin/env bash
# Makes sure `docker compose` (the Compose v2 plugin, which community.docker.docker_compose_v2 needs)
# works on this machine. Debian 13 packages it (docker-compose 2.x); Debian 12's docker-compose is
# Compose v1, so there the plugin comes from Debian 13's package (lib.sh, install_cli_plugin).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if ! docker compose version >/dev/null 2>&1; then
  install_cli_plugin docker-compose docker-compose "Compose v2 (docker compose)" 2.
fi
docker compose version

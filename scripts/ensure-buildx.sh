#!/usr/bin/env bash
# Makes sure `docker buildx` (the BuildKit client plugin, which community.docker.docker_image_build
# and build-image.sh build with) works on this machine. Debian 13 packages it (docker-buildx);
# Debian 12 has no package, so there the plugin comes from Debian 13's (lib.sh, install_cli_plugin).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if ! docker buildx version >/dev/null 2>&1; then
  install_cli_plugin docker-buildx docker-buildx "buildx (docker buildx)"
fi
docker buildx version

#!/usr/bin/env bash
# Makes sure `docker compose` (the Compose v2 plugin, which community.docker.docker_compose_v2 needs)
# works on this machine. Debian 13 packages it (docker-compose 2.x); Debian 12 only has Compose v1, so
# there the plugin is taken from Debian 13's package, installed in a throw-away container.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

if docker compose version >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  log "docker compose (Compose v2) is missing: install Debian's docker-compose (Debian 13) or Docker's docker-compose-plugin"
  exit 1
fi

candidate=$(apt-cache policy docker-compose 2>/dev/null | awk '/Candidate:/ {print $2}')
if [[ $candidate =~ ^2\. ]]; then
  install_packages "Debian's Compose v2 ($candidate)" docker-compose
else
  base=$("$here/base-image.sh")
  log "this Debian has no Compose v2: installing the plugin from Debian 13's docker-compose package (via $base)"
  target=/usr/local/lib/docker/cli-plugins
  mkdir -p "$target"
  docker run --rm --env DEBIAN_FRONTEND=noninteractive --volume "$target:/out" "$base" sh -c \
    'apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 \
     && cp /usr/libexec/docker/cli-plugins/docker-compose /out/docker-compose'
fi
docker compose version

#!/usr/bin/env bash
# Prints the base image to build on: BASE_IMAGE (default debian:trixie-slim) when it is on this
# machine or can be pulled; otherwise, for the default only, an equivalent image built from Debian's
# archive (build-base-image.sh), saying so on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

default_base=debian:trixie-slim
base=${BASE_IMAGE:-$default_base}
if docker image inspect "$base" >/dev/null 2>&1 || docker pull -q "$base" >/dev/null 2>&1; then
  printf '%s\n' "$base"
  exit 0
fi
if [ "$base" != "$default_base" ]; then
  printf 'base-image: BASE_IMAGE=%s is neither on this machine nor pullable: build or load it first, or unset BASE_IMAGE\n' "$base" >&2
  exit 1
fi
fallback=django-dockerable-base:trixie
printf 'base-image: cannot pull %s (no registry reachable?): using %s, built from Debian'"'"'s archive\n' "$base" "$fallback" >&2
if ! docker image inspect "$fallback" >/dev/null 2>&1; then
  "$here/build-base-image.sh" "$fallback" trixie
fi
printf '%s\n' "$fallback"

#!/usr/bin/env bash
# Prints, as one line of JSON, how this machine builds the image from app/ (the role's build.yml
# hands it to community.docker.docker_image_build; build-image.sh builds with it):
#   {"name": "<image name>", "tag": "<release id>", "exists": true|false, "dockerfile": "dockerable/Dockerfile",
#    "context": "<source>/app", "args": {"BASE_IMAGE": ..., "RELEASE_ID": ..., "BUILD_CA_CERTS": ...}}
# "exists": the image <name>:<release id> is on this machine already; then, unless FORCE_BUILD=1,
# "args" is {} (nothing is to be built, so no base image is looked for).
# Stops, saying what to install, when the docker CLI has no buildx plugin (both builds need it).
#
# Environment:
#   IMAGE_NAME   image name (default: django-dockerable)
#   FORCE_BUILD  1 to give the build arguments even when the image exists
#   BASE_IMAGE   base image (default: debian:trixie-slim; when it cannot be pulled, an equivalent
#                image is built from Debian's archive with build-base-image.sh, and used)
#   SOURCE_DIR   a directory laid out like this repository, whose app/ is built instead of this
#                one's (default: this repository; the benchmarks build a modified copy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
source_dir=$(cd "${SOURCE_DIR:-$(dirname "$here")}" && pwd)
[ -f "$source_dir/app/dockerable/Dockerfile" ] || { log "SOURCE_DIR=$source_dir has no app/dockerable/Dockerfile"; exit 1; }

if ! docker buildx version >/dev/null 2>&1; then
  log "the docker CLI on this machine has no buildx plugin, which builds the image: run scripts/ensure-buildx.sh as root, or install Debian's docker-buildx (Debian 13 or later) or Docker's docker-buildx-plugin"
  exit 1
fi

name=${IMAGE_NAME:-django-dockerable}
release=$(SOURCE_DIR=$source_dir "$here/release-id.sh")
exists=false
if docker image inspect "$name:$release" >/dev/null 2>&1; then exists=true; fi
base="" ca_certs="" with_args=false
if [ "$exists" = false ] || [ "${FORCE_BUILD:-0}" = 1 ]; then
  with_args=true
  base=$("$here/base-image.sh")
  # The builder stage downloads from the package index; if this machine trusts CA certificates of
  # its own (a TLS-inspecting proxy, say), the builder trusts them too. They stay in that stage.
  ca_files=()
  while IFS= read -r -d '' file; do ca_files+=("$file"); done \
    < <(find /usr/local/share/ca-certificates -name '*.crt' -type f -print0 2>/dev/null | sort -z)
  if [ "${#ca_files[@]}" -gt 0 ]; then
    ca_certs=$(cat "${ca_files[@]}")
    log "the builder stage will trust this machine's ${#ca_files[@]} local CA certificate file(s) in /usr/local/share/ca-certificates"
  fi
fi

NAME=$name TAG=$release EXISTS=$exists WITH_ARGS=$with_args CONTEXT=$source_dir/app BASE=$base CA_CERTS=$ca_certs \
  python3 -c '
import json, os
e = os.environ
args = {"BASE_IMAGE": e["BASE"], "RELEASE_ID": e["TAG"], "BUILD_CA_CERTS": e["CA_CERTS"]}
print(json.dumps({
    "name": e["NAME"], "tag": e["TAG"], "exists": e["EXISTS"] == "true",
    "dockerfile": "dockerable/Dockerfile", "context": e["CONTEXT"],
    "args": args if e["WITH_ARGS"] == "true" else {},
}))'

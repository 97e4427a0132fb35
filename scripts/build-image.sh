#!/usr/bin/env bash
# Builds the image from app/ and tags it IMAGE_NAME:<release id> (see release-id.sh). Skips the
# build when that tag already exists, since the tag is derived from the source it was built from.
# Stdout is one line of JSON, for programs: {"image": "<name>:<release id>", "built": true|false}
# (false: the tag existed, nothing was built). What it does is said on stderr.
#
# Environment:
#   IMAGE_NAME   image name (default: django-dockerable)
#   BASE_IMAGE   base image (default: debian:trixie-slim; when it cannot be pulled, an equivalent
#                image is built from Debian's archive with build-base-image.sh, and used)
#   FORCE_BUILD  1 to build even when the tag exists
#   NO_CACHE     1 to build every layer anew (a cold build)
#   SOURCE_DIR   a directory laid out like this repository, whose app/ is built instead of this
#                one's (default: this repository; the benchmarks build a modified copy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"
root=$(dirname "$here")
source_dir=${SOURCE_DIR:-$root}
[ -f "$source_dir/app/dockerable/Dockerfile" ] || { log "SOURCE_DIR=$source_dir has no app/dockerable/Dockerfile"; exit 1; }

image_name=${IMAGE_NAME:-django-dockerable}
release=$("$here/release-id.sh")
reference="$image_name:$release"

if [ "${FORCE_BUILD:-0}" != 1 ] && docker image inspect "$reference" >/dev/null 2>&1; then
  log "$reference already exists: nothing to build"
  printf '{"image": "%s", "built": false}\n' "$reference"
  exit 0
fi

base=$("$here/base-image.sh")

# The builder stage downloads from the package index; if this machine trusts CA certificates of
# its own (a TLS-inspecting proxy, say), the builder trusts them too. They stay in that stage.
ca_certs=""
ca_files=()
while IFS= read -r -d '' file; do ca_files+=("$file"); done \
  < <(find /usr/local/share/ca-certificates -name '*.crt' -type f -print0 2>/dev/null)
if [ "${#ca_files[@]}" -gt 0 ]; then
  ca_certs=$(cat "${ca_files[@]}")
  log "the builder stage will trust this machine's ${#ca_files[@]} local CA certificate file(s) in /usr/local/share/ca-certificates"
fi

log "building $reference on $base"
started=$(date +%s)
cache=()
if [ "${NO_CACHE:-0}" = 1 ]; then cache=(--no-cache); fi
DOCKER_BUILDKIT=0 docker build --quiet "${cache[@]}" \
  --build-arg "BASE_IMAGE=$base" \
  --build-arg "RELEASE_ID=$release" \
  --build-arg "BUILD_CA_CERTS=$ca_certs" \
  --file "$source_dir/app/dockerable/Dockerfile" \
  --tag "$reference" \
  "$source_dir/app" >/dev/null
log "built $reference in $(($(date +%s) - started)) s"
printf '{"image": "%s", "built": true}\n' "$reference"

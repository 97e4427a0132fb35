#!/usr/bin/env bash
# Builds the image of a Django project (default: the demo in app/) with `docker buildx build` and tags
# it IMAGE_NAME:<release id>, the way the role's build.yml does (both take build-plan.py's plan).
# Skips the build when that tag already exists, since the tag is derived from what it is built from.
# Stdout is one line of JSON, for programs: {"image": "<name>:<release id>", "built": true|false}
# (false: the tag existed, nothing was built). What it does is said on stderr.
#
# Environment: APP_DIR, IMAGE_NAME, BASE_IMAGE, ... as in build-plan.py, and
#   FORCE_BUILD  1 to build even when the tag exists (from the build cache, as always)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib.sh
. "$here/lib.sh"

plan=$(python3 "$here/build-plan.py")
# The plan as NUL-separated words: the reference, whether it exists, the context, the Dockerfile,
# then each build arg (a CA certificate's lines stay in one word).
mapfile -d '' -t words < <(python3 -c '
import json, sys
plan = json.loads(sys.argv[1])
words = [plan["name"] + ":" + plan["tag"], str(plan["exists"]).lower(), plan["context"], plan["dockerfile"]]
words += [f"{key}={value}" for key, value in plan["args"].items()]
sys.stdout.write("".join(word + "\0" for word in words))' "$plan")
reference=${words[0]} exists=${words[1]} context=${words[2]} dockerfile=${words[3]}
build_args=()
for arg in "${words[@]:4}"; do build_args+=(--build-arg "$arg"); done
# The plan staged the build context in a temporary directory of its own (when there is one to build).
if [ -n "$context" ]; then trap 'rm -rf "$context"' EXIT; fi

if [ "$exists" = true ] && [ "${FORCE_BUILD:-0}" != 1 ]; then
  log "$reference already exists: nothing to build"
  printf '{"image": "%s", "built": false}\n' "$reference"
  exit 0
fi

log "building $reference"
started=$(date +%s)
docker buildx build --quiet "${build_args[@]}" \
  --file "$context/$dockerfile" --tag "$reference" "$context" >/dev/null
log "built $reference in $(($(date +%s) - started)) s"
printf '{"image": "%s", "built": true}\n' "$reference"

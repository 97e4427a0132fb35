#!/usr/bin/env bash
# Runs commands side by side, each line of their output prefixed with the command's name, and waits
# for all of them; fails, naming them, when any failed. Used by `make test`: pytest and the Molecule
# scenarios share this machine's Docker engine but nothing on it (names, networks, image names).
#
# Usage: scripts/side-by-side.sh NAME COMMAND [NAME COMMAND]...
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if [ $# -lt 2 ] || [ $(($# % 2)) -ne 0 ]; then
  log "usage: side-by-side.sh NAME COMMAND [NAME COMMAND]..."
  exit 2
fi
names=()
pids=()
while [ $# -gt 0 ]; do
  name=$1 command=$2
  shift 2
  (
    set -o pipefail
    bash -c "$command" 2>&1 | sed -u "s/^/[$name] /"
  ) &
  names+=("$name")
  pids+=("$!")
done

failed=()
for index in "${!pids[@]}"; do
  if ! wait "${pids[$index]}"; then
    failed+=("${names[$index]}")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
log "all passed: ${names[*]}"

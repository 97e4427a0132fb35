#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine: installs Debian's engine when none is
# installed and starts dockerd in the background when `docker info` fails. Safe to run again.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  install_packages "Debian's Docker engine" docker.io iptables ca-certificates
fi

# This machine's own engine, by its pid file: engines inside containers (the test hosts run their
# own) are visible to pgrep here too, and must not count.
engine_running() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

if ! engine_running; then
  rm -f /var/run/docker.sock /var/run/docker.pid
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  # In a session of its own: it outlives the command (and the process group) that started it.
  setsid nohup dockerd >>/var/log/dockerd.log 2>&1 </dev/null &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "the Docker engine is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log"
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1

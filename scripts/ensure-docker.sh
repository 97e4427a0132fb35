#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine: installs Debian's engine when none is
# installed and starts dockerd in the background when `docker info` fails. Safe to run again.
set -euo pipefail

log() { printf 'ensure-docker: %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    log "no Docker engine is installed and this is not root: install docker.io, then run again"
    exit 1
  fi
  log "installing Debian's Docker engine (docker.io)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
fi

if [ -S /var/run/docker.sock ] && ! pgrep -x dockerd >/dev/null; then
  rm -f /var/run/docker.sock /var/run/docker.pid
fi

if ! pgrep -x dockerd >/dev/null; then
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
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

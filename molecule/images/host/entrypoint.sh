#!/usr/bin/env bash
# Starts syslog and cron, then runs this host's Docker engine in the foreground. Inner containers'
# cgroups go under this container's own memory cgroup, so nothing leaks onto the machine.
# On a bare host (no Docker yet) the engine's configuration says so, for whoever installs and starts
# it later, and the host just stays up.
set -euo pipefail

own_cgroup=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
if [ -z "$own_cgroup" ]; then
  own_cgroup=$(awk -F: '$1 == "0" {print $3; exit}' /proc/self/cgroup)  # cgroup v2
fi
mkdir -p /run/lock
rsyslogd
cron
if command -v dockerd >/dev/null; then
  exec dockerd --cgroup-parent "${own_cgroup%/}/nested"
fi
mkdir -p /etc/docker
printf '{"cgroup-parent": "%s/nested"}\n' "${own_cgroup%/}" >/etc/docker/daemon.json
# Sourced by /etc/init.d/docker. Its open-files limit cannot be raised in a container here (no
# CAP_SYS_RESOURCE): the engine keeps the container's. And the engine gets the variable that this
# image's environment gives the engine of a host with Docker (see the Dockerfile).
cat >/etc/default/docker <<'DEFAULTS'
ulimit() { builtin ulimit "$@" 2>/dev/null || true; }
export DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1
DEFAULTS
exec sleep infinity

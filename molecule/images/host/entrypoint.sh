#!/usr/bin/env bash
# Starts syslog and cron, then runs this host's Docker engine in the foreground. Inner containers'
# cgroups go under this container's own memory cgroup, so nothing leaks onto the machine.
set -euo pipefail

own_cgroup=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
if [ -z "$own_cgroup" ]; then
  own_cgroup=$(awk -F: '$1 == "0" {print $3; exit}' /proc/self/cgroup)  # cgroup v2
fi
mkdir -p /run/lock
rsyslogd
cron
exec dockerd --cgroup-parent "${own_cgroup%/}/nested"

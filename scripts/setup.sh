#!/usr/bin/env bash
# Prepares this machine for the README's commands: Debian packages, the Python virtualenv with the
# pinned tools (requirements.txt), and a running Docker engine. Fast when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

# Debian packages (commands the project runs on this machine).
declare -A wanted=(
  [dockerd]=docker.io [debootstrap]=debootstrap [shellcheck]=shellcheck [git]=git
  [iptables]=iptables [curl]=curl [flock]=util-linux [crontab]=cron [wrk]=wrk
)
missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${wanted[$command]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  install_packages "what the README's commands run" "${missing[@]}"
fi

# The virtualenv, rebuilt when requirements.txt changes.
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing the pinned Python tools into .venv (requirements.txt)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  printf '%s\n' "$want" >"$stamp"
fi

scripts/ensure-docker.sh
scripts/ensure-compose.sh
scripts/ensure-buildx.sh

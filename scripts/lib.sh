# Sourced by the scripts of this folder: how they speak, and how they get Debian packages.
# shellcheck shell=bash

# log MESSAGE...: one line on stderr, after the script's name.
log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }

# install_packages WHAT PACKAGE...: installs Debian packages (WHAT says what for) when this is root on
# a machine with apt-get; anywhere else, says what to install and stops the script.
install_packages() {
  local what=$1
  shift
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "$what is missing: install the Debian packages $* as root (apt-get install $*), then run again"
    exit 1
  fi
  log "installing $what: $*"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

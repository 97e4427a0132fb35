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

# install_cli_plugin PACKAGE PLUGIN WHAT [VERSION]: makes the docker CLI plugin PLUGIN (docker-compose,
# docker-buildx) work on this Debian machine, as root. Installs this Debian's package PACKAGE when it
# has one whose version starts with VERSION (any version if none is given); where it has not (Debian
# 12), the plugin's binary comes from Debian 13's package, installed in a throw-away container of the
# base image (base-image.sh), and is copied to /usr/local/lib/docker/cli-plugins. WHAT names it in messages.
install_cli_plugin() {
  local package=$1 plugin=$2 what=$3 version=${4:-} candidate base target=/usr/local/lib/docker/cli-plugins
  if [ "$(id -u)" -ne 0 ]; then
    log "$what is missing: install Debian's $package (Debian 13 or later) or Docker's ${plugin}-plugin as root, then run again"
    exit 1
  fi
  candidate=$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && [[ $candidate == "$version"* ]]; then
    install_packages "Debian's $what ($candidate)" "$package"
    return
  fi
  base=$("$(dirname "${BASH_SOURCE[0]}")/base-image.sh")
  log "this Debian does not package $what: installing the plugin from Debian 13's $package package (via $base)"
  mkdir -p "$target"
  docker run --rm --env DEBIAN_FRONTEND=noninteractive --env "PACKAGE=$package" --env "PLUGIN=$plugin" \
    --volume "$target:/out" "$base" sh -c \
    'apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$PACKAGE" >/dev/null 2>&1 \
     && cp "/usr/libexec/docker/cli-plugins/$PLUGIN" "/out/$PLUGIN"'
}

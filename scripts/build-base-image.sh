#!/usr/bin/env bash
# Builds a Debian base image from Debian's archive with debootstrap, for machines that cannot pull
# from an image registry. The result is equivalent to debian:<suite>-slim: a minbase system with
# documentation, man pages and translations left out, and apt's lists cleaned.
#
# Usage: scripts/build-base-image.sh TAG [SUITE]
# The mirror is read from this machine's apt sources; DEBIAN_MIRROR overrides it.
set -euo pipefail

tag=${1:?usage: build-base-image.sh TAG [SUITE]}
suite=${2:-trixie}

# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

mirror_from_apt_sources() {
  # First archive URI (not the security one) in deb822 .sources files, then in one-line lists.
  local files=() f
  for f in /etc/apt/sources.list.d/*.sources; do [ -e "$f" ] && files+=("$f"); done
  if [ "${#files[@]}" -gt 0 ]; then
    awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "${files[@]}"
  fi
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }' "$f"
  done
}

security_mirror_from_apt_sources() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -vE '^[[:space:]]*#' | grep -oE 'https?://[^ ]+/debian-security/?' | head -n 1 || true
}

mirror=${DEBIAN_MIRROR:-$(mirror_from_apt_sources | head -n 1)}
security_mirror=${DEBIAN_SECURITY_MIRROR:-$(security_mirror_from_apt_sources)}
if [ -z "$mirror" ]; then
  log "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR to one (e.g. your local mirror's URL)"
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  install_packages debootstrap debootstrap
fi

root=$(mktemp -d /tmp/dockerable-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

log "bootstrapping Debian $suite from $mirror into $root"
# Same exclusions as the official slim images, applied before the first package is unpacked.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
CFG
debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null

cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
{
  printf 'deb %s %s main\n' "$mirror" "$suite" "$mirror" "$suite-updates"
  if [ -n "$security_mirror" ]; then printf 'deb %s %s-security main\n' "$security_mirror" "$suite"; fi
} >"$root/etc/apt/sources.list"
printf 'APT::Install-Recommends "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log "$root"/tmp/*

tar -C "$root" --numeric-owner -c . \
  | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
log "built $tag"

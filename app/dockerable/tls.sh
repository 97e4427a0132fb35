#!/usr/bin/env bash
# dockerable-tls: points nginx at the site's certificate. nginx reads its certificate through two
# symlinks in /run/dockerable/tls; this script aims them at the Let's Encrypt lineage named after
# the first name in NGINX_SERVER_NAME when it exists, else at a temporary self-signed certificate,
# so that nginx can start (and answer ACME challenges) before the first certificate is issued.
#
#   dockerable-tls prepare   aim the links (making the self-signed certificate if needed)
#   dockerable-tls reload    aim the links, check nginx's configuration, reload nginx gracefully;
#                            if the check fails, put the previous links back and exit non-zero,
#                            so nginx keeps serving what it served (certbot's deploy hook)
set -euo pipefail

tls_dir=/run/dockerable/tls
self_dir=/run/dockerable/selfsigned

log() { printf '[dockerable-tls] %s\n' "$*" >&2; }

read -r -a names <<<"${NGINX_SERVER_NAME:-}"
if [ "${#names[@]}" -eq 0 ]; then
  log "NGINX_SERVER_NAME is empty"
  exit 64
fi
live_dir=/etc/letsencrypt/live/${names[0]}

make_self_signed() {
  # Kept while valid for more than a day; a restart renews it otherwise.
  if [ -s "$self_dir/fullchain.pem" ] && openssl x509 -checkend 86400 -noout -in "$self_dir/fullchain.pem" >/dev/null 2>&1; then
    return
  fi
  local san="" name
  for name in "${names[@]}"; do san+="${san:+,}DNS:$name"; done
  mkdir -p "$self_dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=${names[0]}" -addext "subjectAltName=$san" \
    -keyout "$self_dir/privkey.pem" -out "$self_dir/fullchain.pem" 2>/dev/null
  chmod 0600 "$self_dir/privkey.pem"
  log "no certificate in $live_dir yet: serving a temporary self-signed one"
}

aim_links() {
  local source_dir=$live_dir
  if [ ! -s "$live_dir/fullchain.pem" ] || [ ! -s "$live_dir/privkey.pem" ]; then
    make_self_signed
    source_dir=$self_dir
  fi
  mkdir -p "$tls_dir"
  ln -sfn "$source_dir/fullchain.pem" "$tls_dir/fullchain.pem"
  ln -sfn "$source_dir/privkey.pem" "$tls_dir/privkey.pem"
  printf '%s\n' "$source_dir"
}

case "${1:-}" in
  prepare)
    aim_links >/dev/null
    ;;
  reload)
    previous=$(readlink "$tls_dir/fullchain.pem" 2>/dev/null || true)
    current=$(aim_links)
    if ! nginx -t -q; then
      if [ -n "$previous" ]; then
        ln -sfn "$previous" "$tls_dir/fullchain.pem"
        ln -sfn "${previous%/fullchain.pem}/privkey.pem" "$tls_dir/privkey.pem"
      fi
      log "nginx rejected the configuration with the certificate in $current: not reloaded, still serving ${previous%/fullchain.pem}"
      exit 1
    fi
    supervisorctl -c /etc/supervisor/supervisord.conf signal HUP nginx >/dev/null
    # nginx reloads asynchronously: return once it actually serves the certificate.
    want=$(openssl x509 -noout -fingerprint -sha256 -in "$tls_dir/fullchain.pem")
    for _ in $(seq 1 50); do
      served=$(openssl s_client -connect 127.0.0.1:8443 -servername "${names[0]}" </dev/null 2>/dev/null \
        | openssl x509 -noout -fingerprint -sha256 2>/dev/null || true)
      if [ "$served" = "$want" ]; then
        log "nginx reloaded, serving the certificate in $current"
        exit 0
      fi
      sleep 0.2
    done
    log "nginx was reloaded but does not serve the certificate in $current after 10 s"
    exit 1
    ;;
  *)
    log "usage: dockerable-tls prepare|reload"
    exit 64
    ;;
esac

#!/usr/bin/env bash
# dockerable-tls: points nginx at the site's certificate. nginx reads its certificate through two
# symlinks in /run/dockerable/tls; this script aims them at the Let's Encrypt lineage named after
# the first name in NGINX_SERVER_NAME when it exists, else at a temporary self-signed certificate,
# so that nginx can start (and answer ACME challenges) before the first certificate is issued.
#
#   dockerable-tls prepare   aim the links (making the self-signed certificate if needed)
#   dockerable-tls reload    aim the links, check nginx's configuration, reload nginx gracefully;
#                            if the check fails, put the previous links back and exit non-zero,
#                            so nginx keeps serving what it served
#   dockerable-tls sync      aim the links, and reload nginx only if the certificate it serves is
#                            not the one on disk; prints "reloaded" or "unchanged"
#   dockerable-tls renew [ARG...]
#                            certbot renew (ARGs added), then sync; prints key=value lines
#                            (result, renewed, ari, window_start, window_end, expires, days_left)
#                            and exits non-zero on failure. Before certbot, asks the CA for the
#                            certificate's ARI window (ari.py): ari=yes when the certificate was
#                            renewed inside it, no when it was not renewed or renewed before the
#                            window, unavailable when the CA gave no window (reason on stderr)
#   dockerable-tls expiry    prints the certificate's expiry (expires=, days_left=)
#   dockerable-tls info      prints key=value lines about the Let's Encrypt certificate: certificate=
#                            (letsencrypt, none, or unreadable), names=, issuer=, not_before=,
#                            expires=, days_left=, seconds_left=, lifetime_seconds=, and served=
#                            (yes if nginx serves that very certificate); read-only, always exits 0
#   dockerable-tls auto      with EMAIL_ADDRESS: obtains the certificate from ACME_DIRECTORY once
#                            nginx answers, then renews it twice a day, without a restart
#                            (supervisord's program acme); without EMAIL_ADDRESS: nothing
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

fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$1" 2>/dev/null || true; }

# The certificate nginx serves (empty if nginx does not answer, after a few tries).
served_fingerprint() {
  local served=""
  for _ in 1 2 3 4 5; do
    served=$(openssl s_client -connect 127.0.0.1:8443 -servername "${names[0]}" </dev/null 2>/dev/null \
      | openssl x509 -noout -fingerprint -sha256 2>/dev/null || true)
    [ -z "$served" ] || break
    sleep 0.2
  done
  printf '%s\n' "$served"
}

# reload_nginx PREVIOUS: check the configuration (restoring the links to PREVIOUS if nginx rejects
# it), reload gracefully, and wait until nginx serves the certificate the links point at.
reload_nginx() {
  local previous=$1 want
  if ! nginx -t -q; then
    if [ -n "$previous" ]; then
      ln -sfn "$previous" "$tls_dir/fullchain.pem"
      ln -sfn "${previous%/fullchain.pem}/privkey.pem" "$tls_dir/privkey.pem"
    fi
    log "nginx rejected the configuration with the certificate in $current: not reloaded, still serving ${previous%/fullchain.pem}"
    return 1
  fi
  supervisorctl -c /etc/supervisor/supervisord.conf signal HUP nginx >/dev/null
  # nginx reloads asynchronously: return once it actually serves the certificate.
  want=$(fingerprint "$tls_dir/fullchain.pem")
  for _ in $(seq 1 50); do
    if [ "$(served_fingerprint)" = "$want" ]; then
      log "nginx reloaded, serving the certificate in $current"
      return 0
    fi
    sleep 0.2
  done
  log "nginx was reloaded but does not serve the certificate in $current after 10 s"
  return 1
}

# sync: reload only when what nginx serves differs from the certificate on disk (a renewal, or a
# reload that never happened).
sync_nginx() {
  local previous
  previous=$(readlink "$tls_dir/fullchain.pem" 2>/dev/null || true)
  current=$(aim_links)
  if [ "$(served_fingerprint)" = "$(fingerprint "$tls_dir/fullchain.pem")" ]; then
    echo unchanged
    return 0
  fi
  reload_nginx "$previous"
  echo reloaded
}

expiry() {
  local end
  if ! end=$(openssl x509 -noout -enddate -in "$live_dir/fullchain.pem" 2>/dev/null); then
    printf 'expires=none\ndays_left=none\n'
    return
  fi
  end=$(date -u -d "${end#notAfter=}" +%s)
  printf 'expires=%s\ndays_left=%s\n' "$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ)" "$(((end - $(date +%s)) / 86400))"
}

# The ARI window of the certificate on disk (ari.py's key=value lines), asked of the directory that
# certbot keeps for the lineage (server = in its renewal configuration).
ari_window() {
  local server
  server=$(sed -n 's/^[[:space:]]*server[[:space:]]*=[[:space:]]*//p' "/etc/letsencrypt/renewal/${names[0]}.conf" 2>/dev/null | head -n 1)
  if [ ! -s "$live_dir/cert.pem" ] || [ -z "$server" ]; then
    printf 'window=unavailable\nreason=no certificate of certbot in %s\n' "$live_dir"
    return
  fi
  /opt/certbot/bin/python /opt/dockerable/ari.py "$live_dir/cert.pem" "$server" \
    || printf 'window=unavailable\nreason=ari.py failed\n'
}

# info: a report for people and monitoring; changes nothing, so any user who can read the lineage
# may run it. Times are UTC; days_left is rounded down (negative once expired).
report() {
  local file=$live_dir/fullchain.pem start end now left dns_names="" entry issuer want served=no dir
  if [ ! -e "$file" ]; then
    # A directory this user may not search (certbot makes live/ 0700) hides the file: not "none".
    for dir in "${live_dir%/*}" "$live_dir"; do
      if [ -d "$dir" ] && [ ! -x "$dir" ]; then
        printf 'certificate=unreadable\nserved=no\n'
        return
      fi
    done
    printf 'certificate=none\nserved=no\n'
    return
  fi
  if ! start=$(openssl x509 -noout -startdate -in "$file" 2>/dev/null) \
    || ! end=$(openssl x509 -noout -enddate -in "$file" 2>/dev/null); then
    # Not readable by this user, or not a certificate.
    printf 'certificate=unreadable\nserved=no\n'
    return
  fi
  start=$(date -u -d "${start#notBefore=}" +%s)
  end=$(date -u -d "${end#notAfter=}" +%s)
  now=$(date +%s)
  left=$((end - now))
  # The subjectAltName's DNS names, in the certificate's order (other kinds of names are skipped).
  while IFS= read -r entry; do
    if [[ $entry == DNS:* ]]; then dns_names+="${dns_names:+,}${entry#DNS:}"; fi
  done < <(openssl x509 -noout -ext subjectAltName -in "$file" 2>/dev/null | tail -n +2 | tr -d ' ' | tr ',' '\n')
  issuer=$(openssl x509 -noout -issuer -nameopt RFC2253 -in "$file")
  # Both fingerprints empty (nginx does not answer) must not count as a match.
  want=$(fingerprint "$file")
  [ -z "$want" ] || [ "$(served_fingerprint)" != "$want" ] || served=yes
  printf 'certificate=letsencrypt\nnames=%s\nissuer=%s\n' "$dns_names" "${issuer#issuer=}"
  printf 'not_before=%s\nexpires=%s\n' "$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)" "$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ)"
  # Bash's division truncates toward zero: round down by hand when expired.
  printf 'days_left=%s\nseconds_left=%s\n' "$(((left - (left < 0 ? 86399 : 0)) / 86400))" "$left"
  printf 'lifetime_seconds=%s\nserved=%s\n' "$((end - start))" "$served"
}

current=""
case "${1:-}" in
  prepare)
    aim_links >/dev/null
    ;;
  reload)
    previous=$(readlink "$tls_dir/fullchain.pem" 2>/dev/null || true)
    current=$(aim_links)
    reload_nginx "$previous"
    ;;
  sync)
    sync_nginx
    ;;
  renew)
    shift
    before=$(fingerprint "$live_dir/fullchain.pem")
    # The CA's window for the certificate being replaced, from the directory it was issued by.
    window=$(ari_window)
    window_start=$(sed -n 's/^window_start=//p' <<<"$window")
    window_end=$(sed -n 's/^window_end=//p' <<<"$window")
    [ -n "$window_start" ] || log "no ARI window: $(sed -n 's/^reason=//p' <<<"$window")"
    checked=$(date -u +%s)
    result=ok
    # certbot renew exits non-zero only when a renewal was due and failed.
    certbot renew --non-interactive "$@" >&2 || result=failed
    [ -s "$live_dir/fullchain.pem" ] || { log "no certificate in $live_dir"; result=failed; }
    sync_nginx >/dev/null || result=failed
    renewed=no
    [ "$(fingerprint "$live_dir/fullchain.pem")" = "$before" ] || renewed=yes
    ari=unavailable
    if [ -n "$window_start" ]; then
      ari=no
      # Inside the window only: not exempt from Let's Encrypt's limits until certbot sends `replaces`.
      if [ "$renewed" = yes ] && [ "$checked" -ge "$(date -u -d "$window_start" +%s)" ]; then ari=yes; fi
    fi
    printf 'result=%s\nrenewed=%s\n' "$result" "$renewed"
    printf 'ari=%s\nwindow_start=%s\nwindow_end=%s\n' "$ari" "$window_start" "$window_end"
    expiry
    [ "$result" = ok ]
    ;;
  expiry)
    expiry
    ;;
  info)
    report
    ;;
  auto)
    [ -n "${EMAIL_ADDRESS:-}" ] || exit 0
    for _ in $(seq 1 150); do
      [ -z "$(served_fingerprint)" ] || break
      sleep 0.2
    done
    domains=()
    for name in "${names[@]}"; do domains+=(--domain "$name"); done
    directory=${ACME_DIRECTORY:-https://acme-v02.api.letsencrypt.org/directory}
    retry=60
    while true; do
      if [ -s "$live_dir/fullchain.pem" ]; then
        certbot renew --non-interactive >&2 || log "the renewal failed; certbot says why above"
        sync_nginx >/dev/null || true
        sleep 43200
      elif certbot certonly --webroot --webroot-path /var/www/acme --cert-name "${names[0]}" \
        --email "$EMAIL_ADDRESS" --agree-tos --no-eff-email --non-interactive \
        --server "$directory" "${domains[@]}" >&2; then
        sync_nginx >/dev/null || true
        log "certificate obtained for ${names[*]}: $(expiry | paste -sd ' ')"
      else
        log "no certificate from $directory yet: trying again in $retry s"
        sleep "$retry"
        retry=$((retry < 1800 ? retry * 2 : 3600))
      fi
    done
    ;;
  *)
    log "usage: dockerable-tls prepare|reload|sync|renew [certbot arguments]|expiry|info|auto"
    exit 64
    ;;
esac

#!/usr/bin/env bash
# Container entry point. Checks the environment (every variable is in the README's table), renders
# the nginx configuration with envsubst, prepares TLS, then runs supervisord in the foreground as
# PID 1 (nginx + uWSGI). Any bad variable stops the container here, with a message naming it.
set -euo pipefail

fail() {
  printf '[cmd.sh] error: %s\n' "$*" >&2
  exit 64
}
info() { printf '[cmd.sh] %s\n' "$*"; }

# require_int NAME DEFAULT MIN:MAX: NAME (or DEFAULT when unset) must be a whole number in that
# range (rules.env states the ranges that the role checks too); exported.
require_int() {
  local name=$1 default=$2 min=${3%:*} max=${3#*:} value
  value=${!name:-$default}
  if ! [[ $value =~ ^[0-9]{1,9}$ ]] || ((10#$value < min || 10#$value > max)); then
    fail "$name must be a whole number from $min to $max (got '$value')"
  fi
  export "$name=$((10#$value))"
}

cd "$DOCKERABLE_PROJECT_DIR" # where manage.py is (the Dockerfile sets it)
# The formats that the role checks too, stated once.
# shellcheck source=rules.env
. /opt/dockerable/rules.env

# --- required -----------------------------------------------------------------------------------
[ -n "${DJANGO_SETTINGS_MODULE:-}" ] \
  || fail "DJANGO_SETTINGS_MODULE is required: the role's release settings (dockerable_release.settings, mounted at /opt/dockerable/python/dockerable_release/) or a module of the project's"
[[ $DJANGO_SETTINGS_MODULE =~ ^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$ ]] \
  || fail "DJANGO_SETTINGS_MODULE must be a dotted Python module path (got '$DJANGO_SETTINGS_MODULE')"
read -r -a server_names <<<"${NGINX_SERVER_NAME:-}"
[ "${#server_names[@]}" -gt 0 ] \
  || fail "NGINX_SERVER_NAME is required: the site's host name(s), separated by spaces, e.g. 'www.example.com example.com'"

# --- TLS mode (USE_SSL is the older switch, still understood when TLS_MODE is not set) ----------
if [ -n "${USE_SSL:-}" ]; then
  [ -z "${TLS_MODE:-}" ] || fail "USE_SSL and TLS_MODE are both set: keep TLS_MODE only"
  case "${USE_SSL,,}" in
    1 | true | yes | on) TLS_MODE=letsencrypt ;;
    0 | false | no | off) TLS_MODE=off ;;
    *) fail "USE_SSL must be true or false (got '$USE_SSL'); better, set TLS_MODE=off|letsencrypt|offload" ;;
  esac
fi
export TLS_MODE=${TLS_MODE:-off}
case "$TLS_MODE" in
  off | letsencrypt | offload) ;;
  *) fail "TLS_MODE must be off, letsencrypt or offload (got '$TLS_MODE')" ;;
esac

label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
for name in "${server_names[@]}"; do
  if [[ $name =~ ^$DOCKERABLE_RULE_HOST_NAME$ ]]; then continue; fi
  if [[ $name =~ ^\*(\.$label)+$ && $TLS_MODE != letsencrypt ]]; then continue; fi
  if [[ $name == \** ]]; then
    fail "NGINX_SERVER_NAME: '$name': wildcard names cannot get a certificate through HTTP-01 (TLS_MODE=letsencrypt)"
  fi
  fail "NGINX_SERVER_NAME: '$name' is not a valid host name"
done
export NGINX_SERVER_NAME="${server_names[*]}"

# Other names the site answers to (not in the certificate): host names, .example.com for every
# subdomain, IP addresses, or * for any name. A request for any other name gets no answer at all.
read -r -a extra_names <<<"${NGINX_EXTRA_NAMES:-}"
site_names=("${server_names[@]}")
any_name=0
for name in "${extra_names[@]}"; do
  if [ "$name" = "*" ]; then
    any_name=1
  elif [[ $name =~ ^\.?$label(\.$label)*$ || $name =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || $name =~ ^\[?[0-9A-Fa-f:]+\]?$ ]]; then
    site_names+=("$name")
  else
    fail "NGINX_EXTRA_NAMES: '$name' is not a host name, .domain, IP address or *"
  fi
done
export NGINX_SITE_NAMES="${site_names[*]}"

# --- optional, with defaults --------------------------------------------------------------------
require_int UWSGI_PROCESSES 2 "$DOCKERABLE_RULE_WORKERS"
require_int UWSGI_THREADS 2 "$DOCKERABLE_RULE_WORKERS"
require_int UWSGI_HARAKIRI 60 "$DOCKERABLE_RULE_HARAKIRI"
require_int UWSGI_MAX_REQUESTS 0 "$DOCKERABLE_RULE_MAX_REQUESTS"
# Recycling, when asked for, staggered: worker N is recycled after UWSGI_MAX_REQUESTS + N * delta
# requests, so that the workers do not all restart at once (the site would have none for a moment).
export DOCKERABLE_UWSGI_MAX_REQUESTS_DELTA=$((UWSGI_MAX_REQUESTS / UWSGI_PROCESSES / 2))
require_int UWSGI_BUFFER_SIZE 8192 4096:1048576
require_int UWSGI_LISTEN 100 1:65535
export NGINX_CLIENT_MAX_BODY_SIZE=${NGINX_CLIENT_MAX_BODY_SIZE:-10m}
[[ $NGINX_CLIENT_MAX_BODY_SIZE =~ ^$DOCKERABLE_RULE_SIZE$ ]] \
  || fail "NGINX_CLIENT_MAX_BODY_SIZE must be a size such as 512k, 10m or 1g (got '$NGINX_CLIENT_MAX_BODY_SIZE')"

# nginx reaches uWSGI through its Unix socket (uwsgi.ini: who may use it). The path is written out on
# both lines, not shared: the serving benchmark's TCP variant (bench/images/tcp) rewrites these two
# lines as they are.
uwsgi_socket=/run/uwsgi/app.sock
upstream=unix:/run/uwsgi/app.sock
export DOCKERABLE_UWSGI_SOCKET=$uwsgi_socket # uwsgi.ini's socket; nginx's upstream is written below

# Behind the role's edge (a TCP pass-through in front of every release), the public listeners take
# the PROXY protocol, which names the client; only the edge can reach them (the container publishes
# no port then). Checks from inside the container use loopback listeners without it.
case "${NGINX_PROXY_PROTOCOL:-0}" in
  0) proxy_protocol=0 ;;
  1) proxy_protocol=1 ;;
  *) fail "NGINX_PROXY_PROTOCOL must be 0 or 1 (got '$NGINX_PROXY_PROTOCOL'); 1 only behind a TCP pass-through that sends the PROXY protocol" ;;
esac
export NGINX_PROXY_LISTEN=""
[ "$proxy_protocol" = 0 ] || NGINX_PROXY_LISTEN=" proxy_protocol"

mkdir -p /run/dockerable
trusted_conf=/run/dockerable/nginx-trusted-proxies.conf
trusted_geo=/run/dockerable/nginx-trusted-proxies.geo
: >"$trusted_conf"
: >"$trusted_geo"
printf 'server %s;\n' "$upstream" >/run/dockerable/nginx-uwsgi-upstream.conf
read -r -a trusted_proxies <<<"${NGINX_TRUSTED_PROXIES:-}"
if [ "$TLS_MODE" = offload ]; then
  [ "${#trusted_proxies[@]}" -gt 0 ] \
    || fail "NGINX_TRUSTED_PROXIES is required with TLS_MODE=offload: the balancers' addresses or networks, e.g. '10.0.0.0/24'"
  for proxy in "${trusted_proxies[@]}"; do
    [[ $proxy =~ ^$DOCKERABLE_RULE_NETWORK$ ]] \
      || fail "NGINX_TRUSTED_PROXIES: '$proxy' is not an IP address or network"
    printf 'set_real_ip_from %s;\n' "$proxy" >>"$trusted_conf"
    printf '%s 1;\n' "$proxy" >>"$trusted_geo"
  done
  printf 'real_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n' >>"$trusted_conf"
elif [ "${#trusted_proxies[@]}" -gt 0 ]; then
  fail "NGINX_TRUSTED_PROXIES is used only with TLS_MODE=offload (TLS_MODE is '$TLS_MODE'): unset it"
fi

# The original image contract: EMAIL_ADDRESS makes the container obtain and renew its certificate
# itself (supervisord's program acme), from ACME_DIRECTORY (Let's Encrypt by default).
if [ -n "${EMAIL_ADDRESS:-}" ]; then
  [ "$TLS_MODE" = letsencrypt ] \
    || fail "EMAIL_ADDRESS is used only with TLS_MODE=letsencrypt (or USE_SSL=1); TLS_MODE is '$TLS_MODE': unset it"
  [[ $EMAIL_ADDRESS =~ ^$DOCKERABLE_RULE_EMAIL$ ]] \
    || fail "EMAIL_ADDRESS must be an e-mail address (got '$EMAIL_ADDRESS')"
fi
if [ -n "${ACME_DIRECTORY:-}" ]; then
  [ -n "${EMAIL_ADDRESS:-}" ] \
    || fail "ACME_DIRECTORY is used only with EMAIL_ADDRESS (the container then obtains its certificate itself): unset it, or set EMAIL_ADDRESS"
  [[ $ACME_DIRECTORY =~ ^$DOCKERABLE_RULE_HTTPS_URL$ ]] || fail "ACME_DIRECTORY must be an https:// URL (got '$ACME_DIRECTORY')"
fi

# Several hosts behind one name (TLS_MODE=letsencrypt): the CA's HTTP-01 request may reach any of
# them; a token this container does not have is asked of NGINX_ACME_PEERS (acme-peers.sh).
if [ -n "${NGINX_ACME_PEERS:-}" ] && [ "$TLS_MODE" != letsencrypt ]; then
  fail "NGINX_ACME_PEERS is used only with TLS_MODE=letsencrypt (TLS_MODE is '$TLS_MODE'): unset it"
fi
dockerable-acme-peers /run/dockerable/nginx-acme-peers.conf || exit 64

# Where nginx finds the uploads (/media/): the shared directory /app/media, or, with
# NGINX_MEDIA_PROXY (the role's django_dockerable_media_s3_serve: nginx), the object store's URL of the
# uploads (bucket and prefix, ending in /), readable there without a key; nginx fetches them from it,
# GET only, sending neither the visitor's cookies nor credentials, and checking the store's certificate.
media_conf=/run/dockerable/nginx-media.conf
if [ -z "${NGINX_MEDIA_PROXY:-}" ]; then
  printf '# The uploads: the directory that every release mounts.\nalias /app/media/;\n' >"$media_conf"
else
  [[ $NGINX_MEDIA_PROXY =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%+=:@-]*)*/$ ]] \
    || fail "NGINX_MEDIA_PROXY must be an http:// or https:// URL ending in / (the uploads in the object store; got '$NGINX_MEDIA_PROXY')"
  {
    printf '# The uploads: in the object store (NGINX_MEDIA_PROXY).\n'
    printf 'limit_except GET {\n    deny all;\n}\n'
    printf 'proxy_pass %s;\n' "$NGINX_MEDIA_PROXY"
    printf 'proxy_set_header Authorization "";\nproxy_set_header Cookie "";\n'
    printf 'proxy_hide_header Set-Cookie;\nproxy_ignore_headers Set-Cookie;\n'
    printf 'proxy_ssl_server_name on;\nproxy_ssl_verify on;\nproxy_ssl_verify_depth 4;\n'
    printf 'proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;\n'
  } >"$media_conf"
fi

if [ "$proxy_protocol" = 1 ]; then
  ln -sfn /opt/dockerable/nginx-client-proxy.conf /run/dockerable/nginx-client.conf
else
  ln -sfn /opt/dockerable/nginx-client-direct.conf /run/dockerable/nginx-client.conf
fi

# --- the Django settings must load, as the user uWSGI runs as -----------------------------------
# (uWSGI would only log the error and exit; this says which variable to fix.)
if ! setpriv --reuid=django --regid=django --init-groups python - <<'PY'; then
import os, sys
try:
    import django
    django.setup()
except Exception as error:
    module = os.environ["DJANGO_SETTINGS_MODULE"]
    print(f"[cmd.sh] error: DJANGO_SETTINGS_MODULE={module} cannot be loaded: "
          f"{type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)
PY
  exit 64
fi

# --- directories, nginx, TLS --------------------------------------------------------------------
install -d -o django -g dockerable-socket -m 0750 /run/uwsgi
chown django:django /app/media /app/data
# The database and anything else the app keeps: its user's only (nginx serves media/, not data/).
chmod 0750 /app/data

template=/opt/dockerable/nginx-app.conf
health="http 8080"
if [ "$TLS_MODE" = letsencrypt ]; then
  template=/opt/dockerable/nginx-app-ssl.conf
  health="https 8443"
  dockerable-tls prepare
fi
# The default server: no answer for a name the site does not serve (unless NGINX_EXTRA_NAMES has *).
export NGINX_SITE_DEFAULT=""
default_conf=/run/dockerable/nginx-default-server.conf
if [ "$any_name" = 1 ]; then
  NGINX_SITE_DEFAULT=" default_server"
  printf '# NGINX_EXTRA_NAMES has *: the site answers any name.\n' >"$default_conf"
else
  {
    printf '# Any name the site does not serve: the connection is closed without an answer.\n'
    printf 'server {\n    listen 80%s default_server;\n    server_name _;\n' "$NGINX_PROXY_LISTEN"
    printf '    access_log /var/log/nginx/access.log dockerable buffer=32k flush=1s;\n    return 444;\n}\n'
    # Over HTTPS the handshake succeeds (a client or balancer may send no SNI, or an address),
    # and the request's Host decides: the site, or no answer.
    if [ "$TLS_MODE" = letsencrypt ]; then
      printf 'server {\n    listen 443 ssl%s default_server;\n    server_name _;\n' "$NGINX_PROXY_LISTEN"
      printf '    ssl_certificate /run/dockerable/tls/fullchain.pem;\n'
      printf '    ssl_certificate_key /run/dockerable/tls/privkey.pem;\n'
      printf '    access_log /var/log/nginx/access.log dockerable buffer=32k flush=1s;\n    return 444;\n}\n'
    fi
  } >"$default_conf"
fi
# shellcheck disable=SC2016  # the single quotes are for envsubst, which expands them itself
# Only our variables: nginx's own $host, $uri, ... stay as they are.
envsubst '${NGINX_SITE_NAMES} ${NGINX_SITE_DEFAULT} ${NGINX_CLIENT_MAX_BODY_SIZE} ${NGINX_PROXY_LISTEN}' \
  <"$template" >/etc/nginx/conf.d/app.conf
nginx -t -q || fail "nginx rejected the rendered configuration (/etc/nginx/conf.d/app.conf); see above"
printf '%s %s\n' "$health" "${server_names[0]}" >/run/dockerable/healthcheck

info "release ${RELEASE_ID:-unknown}, settings $DJANGO_SETTINGS_MODULE, TLS $TLS_MODE, server name(s) $NGINX_SERVER_NAME," \
  "uWSGI $UWSGI_PROCESSES process(es) x $UWSGI_THREADS thread(s)"

# tagged_pipe PATH TAG OWNER: a named pipe whose every line reaches the container's stdout
# prefixed with [TAG]. The reader also holds the pipe open for writing, so it never sees
# end-of-file when a writer closes and reopens it.
# The reader runs as nobody: it only copies lines (the pipe is opened here, before it drops root).
tagged_pipe() {
  rm -f "$1"
  mkfifo -m 0600 "$1"
  chown "$3" "$1"
  setpriv --reuid=nobody --regid=nogroup --clear-groups sed -u "s/^/[$2] /" <>"$1" &
}
# The event listener (dockerable-events) writes the programs' tagged lines into these two pipes;
# readers running as nobody copy them to the container's stdout and stderr.
for stream in out err; do
  rm -f "/run/dockerable/container.$stream"
  mkfifo -m 0600 "/run/dockerable/container.$stream"
  chown dockerable-events "/run/dockerable/container.$stream"
done
setpriv --reuid=nobody --regid=nogroup --clear-groups cat <>/run/dockerable/container.out &
setpriv --reuid=nobody --regid=nogroup --clear-groups cat <>/run/dockerable/container.err >&2 &
tagged_pipe /run/dockerable/supervisord.log supervisord root
tagged_pipe /run/dockerable/django.log django django   # see /opt/dockerable/python/dockerable/logging.py

exec supervisord -c /etc/supervisor/supervisord.conf

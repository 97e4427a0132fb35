#!/usr/bin/env bash
# dockerable-acme-peers FILE: writes the nginx locations @acme_peer_1, @acme_peer_2, ... that
# nginx-acme.conf's @acme_peers goes through, one per entry of NGINX_ACME_PEERS (space-separated
# host[:port]: the other hosts that serve the same names), then @acme_peer_<n+1>, which answers 404.
# Several hosts behind one name: the CA's HTTP-01 request may reach any of them, but only the host
# whose certbot asked has the token, so a token this host does not have is asked of each peer in
# turn, through its public HTTP port; a failing peer (unresolvable, refusing, 404) passes to the
# next. Used by cmd.sh (each release) and by the role's edge (a host that no release serves yet).
set -euo pipefail

fail() {
  printf '[dockerable-acme-peers] error: %s\n' "$*" >&2
  exit 64
}

[ "$#" -eq 1 ] || fail "usage: dockerable-acme-peers FILE"
label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
read -r -a peers <<<"${NGINX_ACME_PEERS:-}"
mkdir -p "$(dirname "$1")"

# shellcheck disable=SC2016  # nginx's own $variables, written as they are
{
  printf '# NGINX_ACME_PEERS, written by dockerable-acme-peers: %s\n' "${peers[*]:-none}"
  # Peers named by host name are resolved when asked, by the container's resolvers.
  resolvers=$(awk '$1 == "nameserver" { print ($2 ~ /:/ ? "[" $2 "]" : $2) }' /etc/resolv.conf | tr '\n' ' ')
  if [ -n "$resolvers" ]; then
    printf 'resolver %s valid=10s;\nresolver_timeout 3s;\n' "$resolvers"
  fi
  for index in "${!peers[@]}"; do
    peer=${peers[$index]}
    [[ $peer =~ ^($label(\.$label)*|[0-9]{1,3}(\.[0-9]{1,3}){3}|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$ ]] \
      || fail "NGINX_ACME_PEERS: '$peer' is not host[:port] (a host name, an IPv4 address or an [IPv6] address)"
    port=${BASH_REMATCH[6]#:}
    if [ -n "$port" ] && ((10#$port < 1 || 10#$port > 65535)); then
      fail "NGINX_ACME_PEERS: '$peer': the port must be 1-65535"
    fi
    printf 'location @acme_peer_%d {\n' "$((index + 1))"
    printf '    set $dockerable_acme_peer "%s";\n' "$peer"
    printf '    proxy_pass http://$dockerable_acme_peer;\n'
    printf '    include /opt/dockerable/nginx-acme-relay.conf;\n'
    printf '    error_page 400 403 404 500 502 503 504 = @acme_peer_%d;\n}\n' "$((index + 2))"
  done
  # After the last peer (or with none): the token is nowhere.
  printf 'location @acme_peer_%d {\n    return 404;\n}\n' "$((${#peers[@]} + 1))"
} >"$1.tmp"
mv -f "$1.tmp" "$1"

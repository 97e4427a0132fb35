#!/usr/bin/env bash
# Initialises the cluster on first start (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB), accepts
# password logins (scram-sha-256) from any address, then runs postgres in the foreground.
set -euo pipefail
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user=${POSTGRES_USER:-app}
db=${POSTGRES_DB:-app}
bin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  "$bin/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  printf "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n" >>"$PGDATA/pg_hba.conf"
  "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  psql -v ON_ERROR_STOP=1 -U postgres -q \
    -v user="$user" -v db="$db" -v password="$(cat "$pwfile")" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
  rm -f "$pwfile"
  "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi

exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*'

#!/usr/bin/env bash
# The official postgres image's interface, on Debian's PostgreSQL: on first start, initialises the
# cluster (POSTGRES_USER, POSTGRES_DB, and POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, the file read
# as root), accepts password logins (scram-sha-256) from any address, then runs postgres in the
# foreground as the postgres user.
set -euo pipefail

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 0700 "$PGDATA"
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(<"$POSTGRES_PASSWORD_FILE")
    export POSTGRES_PASSWORD
    unset POSTGRES_PASSWORD_FILE
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required}"
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
unset POSTGRES_PASSWORD

exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*'

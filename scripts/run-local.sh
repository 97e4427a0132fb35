#!/usr/bin/env bash
# Runs the image on this machine as the "local" environment: SQLite, TLS off, the site at
# http://localhost:8000. Settings and a generated secret key live in /srv/django-dockerable/local.
set -euo pipefail
cd "$(dirname "$0")/.."

env_dir=/srv/django-dockerable/local
settings_dir=$env_dir/settings
container=django-dockerable-local

image=$(scripts/build-image.sh)
install -d -m 0755 "$env_dir" "$settings_dir"
install -d -m 0750 "$env_dir/data" "$env_dir/media"
cat >"$settings_dir/settings.py" <<'PY'
from pathlib import Path

from ..base import *  # noqa: F403

SECRETS = read_secrets(Path(__file__).parent, "django_secret_key")  # noqa: F405
SECRET_KEY = SECRETS["django_secret_key"]
ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
PY
: >"$settings_dir/__init__.py"
if [ ! -s "$settings_dir/secrets.json" ]; then
  (umask 077 && printf '{"django_secret_key": "%s"}\n' "$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')" >"$settings_dir/secrets.json")
fi
chown 0:10001 "$settings_dir/secrets.json"
chmod 0640 "$settings_dir/secrets.json"

if [ "$(docker inspect -f '{{.Config.Image}}' "$container" 2>/dev/null)" != "$image" ]; then
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker run --detach --name "$container" --restart unless-stopped --publish 8000:80 \
    --volume "$settings_dir:/app/project/settings/local:ro" \
    --volume "$env_dir/data:/app/data" --volume "$env_dir/media:/app/media" \
    --env DJANGO_SETTINGS_MODULE=project.settings.local.settings --env NGINX_SERVER_NAME=localhost \
    "$image" >/dev/null
fi
for _ in $(seq 1 60); do
  if curl -fsS -o /dev/null http://localhost:8000/healthz; then
    docker exec --user django "$container" python manage.py migrate --noinput >/dev/null
    printf 'The site answers at http://localhost:8000 (release %s)\n' "${image##*:}"
    exit 0
  fi
  sleep 1
done
printf 'The site did not answer at http://localhost:8000/healthz; see: docker logs %s\n' "$container" >&2
exit 1

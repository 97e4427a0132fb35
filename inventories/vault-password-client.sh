#!/usr/bin/env bash
# Ansible vault password client: prints the password of the vault id Ansible asks for
# (--vault-id <id>), read from $DJANGO_DOCKERABLE_VAULT_DIR/<id> (default
# ~/.config/django-dockerable/vault/<id>). Ansible asks for every id at start; an environment whose
# password file is missing gets an unusable password and a warning, so that other environments still
# deploy and this one fails with "Decryption failed".
set -euo pipefail

id=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    --vault-id) id=${2:-}; shift 2 ;;
    --vault-id=*) id=${1#--vault-id=}; shift ;;
    *) shift ;;
  esac
done
if ! [[ $id =~ ^[a-z][a-z0-9_]*$ ]]; then
  printf 'vault-password-client: unexpected vault id %q\n' "$id" >&2
  exit 2
fi

file=${DJANGO_DOCKERABLE_VAULT_DIR:-$HOME/.config/django-dockerable/vault}/$id
if [ -r "$file" ]; then
  head -n 1 "$file"
else
  printf 'vault-password-client: no vault password for "%s": put it in %s (mode 0600)\n' "$id" "$file" >&2
  printf 'no-password-for-%s-%s\n' "$id" "$RANDOM$RANDOM"
fi

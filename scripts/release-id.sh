#!/usr/bin/env bash
# Prints the release id of the source in app/: the first 12 hex digits of a SHA-256 over every file
# that goes into the image (path and content). The same source always gives the same id, on any
# machine; any change to what is built gives a new one. Image tags are therefore immutable.
# SOURCE_DIR (see build-image.sh) names another directory laid out like this repository.
set -euo pipefail
cd "${SOURCE_DIR:-$(dirname "$0")/..}"

list_files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and untracked-but-not-ignored files; .gitignore mirrors app/.dockerignore.
    git ls-files -co --exclude-standard -- app
  else
    find app -type f ! -path '*/__pycache__/*' ! -name '*.py[co]' ! -name 'secrets.json' ! -name '*.sqlite3'
  fi
}

list_files | LC_ALL=C sort -u | while IFS= read -r file; do
  [ -f "$file" ] && sha256sum -- "$file"
done | sha256sum | cut -c1-12

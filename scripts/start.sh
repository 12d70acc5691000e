#!/usr/bin/env bash
# Set up SmartBot (virtualenv, dependencies, local config with a generated secret key, SQLite
# database) and start it on http://127.0.0.1:8080 under gunicorn. Safe to run again.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

make_venv
install_requirements

VAR="$ROOT/var"
mkdir -p "$VAR"
chmod 700 "$VAR"
export SMARTBOT_CONFIG="${SMARTBOT_CONFIG:-$VAR/smartbot.toml}"
if [ ! -f "$SMARTBOT_CONFIG" ]; then
  cp "$ROOT/smartbot.example.toml" "$SMARTBOT_CONFIG"
  echo "wrote $SMARTBOT_CONFIG (edit it to add model providers and chat platforms)"
fi
if [ -z "${SMARTBOT_SECRET_KEY:-}" ]; then
  if [ ! -s "$VAR/secret_key" ]; then
    (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' > "$VAR/secret_key")
  fi
  SMARTBOT_SECRET_KEY="$(cat "$VAR/secret_key")"
  export SMARTBOT_SECRET_KEY
fi

"$VENV/bin/smartbot" db upgrade
if ! "$VENV/bin/python" -c 'from smartbot.settings.loading import load; from smartbot.storage.db import Database
from smartbot.auth.accounts import has_admin; import sys
sys.exit(0 if has_admin(Database(load().database_url)) else 1)'; then
  if [ -n "${SMARTBOT_ADMIN_PASSWORD:-}" ]; then
    printf '%s\n' "$SMARTBOT_ADMIN_PASSWORD" | "$VENV/bin/smartbot" create-admin --name "${SMARTBOT_ADMIN_NAME:-admin}" --password-stdin
  elif [ -t 0 ]; then
    echo "No admin account yet. Choose a password for the admin login (at least 10 characters)."
    "$VENV/bin/smartbot" create-admin --name "${SMARTBOT_ADMIN_NAME:-admin}" || true
  else
    echo "No admin account yet: run '$VENV/bin/smartbot create-admin' (with SMARTBOT_CONFIG=$SMARTBOT_CONFIG)."
  fi
fi

echo "SmartBot: web chat http://127.0.0.1:8080/chat  admin http://127.0.0.1:8080/admin/"
exec "$VENV/bin/smartbot" run

#!/usr/bin/env bash
# Set up SmartBot (virtualenv, dependencies, local config, a generated secret key, SQLite database)
# and start it under gunicorn on [server] bind: http://127.0.0.1:8080 unless the config file or
# SMARTBOT_SERVER__BIND says otherwise (e.g. SMARTBOT_SERVER__BIND=127.0.0.1:8081 ./scripts/start.sh).
# Safe to run again: it keeps the config, the key and the data, and installs only what changed.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

make_venv
install_requirements

# start.sh's own lines, from the catalogues, in the language of SMARTBOT_LANG or else LC_ALL / LANG.
say() { "$VENV/bin/python" -m smartbot.i18n.terminal "$@"; }

VAR="$ROOT/var"
mkdir -p "$VAR"
chmod 700 "$VAR"
export SMARTBOT_CONFIG="${SMARTBOT_CONFIG:-$VAR/smartbot.toml}"
if [ ! -f "$SMARTBOT_CONFIG" ]; then
  cp "$ROOT/smartbot.example.toml" "$SMARTBOT_CONFIG"
  say setup.start_wrote_config "path=$SMARTBOT_CONFIG"
fi
# The signing key lives in var/secret_key. The settings read it from there (secret_key_file) when
# SMARTBOT_SECRET_KEY is not set, so every `smartbot` command run later finds the same key.
if [ -z "${SMARTBOT_SECRET_KEY:-}" ] && [ -z "${SMARTBOT_SECRET_KEY_FILE:-}" ]; then
  if [ ! -s "$VAR/secret_key" ]; then
    (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))' > "$VAR/secret_key")
  fi
  export SMARTBOT_SECRET_KEY_FILE="$VAR/secret_key"
fi

"$VENV/bin/smartbot" db upgrade
if ! "$VENV/bin/python" -c 'from smartbot.settings.loading import load; from smartbot.storage.db import Database
from smartbot.auth.accounts import has_admin; import sys
sys.exit(0 if has_admin(Database(load().database_url)) else 1)'; then
  if [ -n "${SMARTBOT_ADMIN_PASSWORD:-}" ]; then
    printf '%s\n' "$SMARTBOT_ADMIN_PASSWORD" | "$VENV/bin/smartbot" create-admin --name "${SMARTBOT_ADMIN_NAME:-admin}" --password-stdin
  elif [ -t 0 ]; then
    say setup.start_choose_password
    "$VENV/bin/smartbot" create-admin --name "${SMARTBOT_ADMIN_NAME:-admin}" || true
  else
    say setup.start_no_admin "command=$VENV/bin/smartbot create-admin" "config=$SMARTBOT_CONFIG"
  fi
fi

# `smartbot run` says where it serves (from the same settings the server reads), or, when that
# port is taken, how to choose another, and exits before gunicorn starts.
exec "$VENV/bin/smartbot" run

#!/usr/bin/env bash
# SmartBot installer for Debian/Ubuntu: from a fresh server to SmartBot running under supervisor
# behind nginx (HTTPS), with generated secrets, in one command. No systemd needed.
#
#   sudo ./deploy/install.sh [--server-name bot.example.com] [--generic-callback URL] ...
#
# Safe to run again: files whose content would not change are left alone (same bytes, same mtime),
# existing secrets, config and certificates are kept, and nothing is restarted. Run it from a newer
# checkout to upgrade: the new release is unpacked beside the old one, the database is migrated,
# and the app is restarted gracefully (acknowledged webhooks are in the database; nginx answers 503
# with Retry-After meanwhile, and platforms send again).
#
# Options (environment variables of the same name in capitals work too, e.g. PREFIX=/tmp/x):
#   --prefix DIR            install below DIR instead of / (tests, packaging); implies --no-services
#   --user NAME             service user, created as a system user when missing (default smartbot)
#   --nginx-group NAME      group nginx's workers run as, given access to the socket (default www-data)
#   --server-name NAME      nginx server_name and certificate name (default: this host's name)
#   --http-port N           plain HTTP port that redirects to HTTPS (default 80)
#   --https-port N          HTTPS port (default 443)
#   --no-ipv6               listen on IPv4 only
#   --cert FILE --key FILE  use this certificate; default: a self-signed one, made once
#   --admin-allow LIST      comma-separated addresses/CIDRs that may reach /admin and /api
#   --metrics-allow LIST    addresses/CIDRs besides this host that may read /metrics and /readyz's
#                           details (nginx, and [ops] metrics_allow of a new config)
#   --generic-callback URL  switch on the generic webhook, replies POSTed to URL (new config only)
#   --workers N             gunicorn worker processes (default 2; new config only)
#   --supervisorctl CMD     how to reach supervisord (default: supervisorctl)
#   --nginx CMD             the nginx to test and reload (default: nginx)
#   --no-services           only install files; do not touch nginx or supervisor
#   --no-packages           do not apt-get install nginx, supervisor, openssl, python3-venv
set -euo pipefail
shopt -s lastpipe      # `... | put_file` runs put_file in this shell, so what it records is kept

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-}"
SVC_USER="${SVC_USER:-smartbot}"
NGINX_GROUP="${NGINX_GROUP:-www-data}"
SERVER_NAME="${SERVER_NAME:-$(hostname -f 2>/dev/null || hostname)}"
HTTP_PORT="${HTTP_PORT:-80}"
HTTPS_PORT="${HTTPS_PORT:-443}"
IPV6="${IPV6:-auto}"
CERT="${CERT:-}"
KEY="${KEY:-}"
ADMIN_ALLOW="${ADMIN_ALLOW:-}"
METRICS_ALLOW="${METRICS_ALLOW:-}"
GENERIC_CALLBACK="${GENERIC_CALLBACK:-}"
WORKERS="${WORKERS:-2}"
SUPERVISORCTL="${SUPERVISORCTL-supervisorctl}"
NGINX="${NGINX-nginx}"
SERVICES="${SERVICES:-auto}"
PACKAGES="${PACKAGES:-auto}"

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift ;;
    --user) SVC_USER="$2"; shift ;;
    --nginx-group) NGINX_GROUP="$2"; shift ;;
    --server-name) SERVER_NAME="$2"; shift ;;
    --http-port) HTTP_PORT="$2"; shift ;;
    --https-port) HTTPS_PORT="$2"; shift ;;
    --no-ipv6) IPV6=no ;;
    --cert) CERT="$2"; shift ;;
    --key) KEY="$2"; shift ;;
    --admin-allow) ADMIN_ALLOW="$2"; shift ;;
    --metrics-allow) METRICS_ALLOW="$2"; shift ;;
    --generic-callback) GENERIC_CALLBACK="$2"; shift ;;
    --workers) WORKERS="$2"; shift ;;
    --supervisorctl) SUPERVISORCTL="$2"; SERVICES=yes; shift ;;
    --nginx) NGINX="$2"; SERVICES=yes; shift ;;
    --no-services) SERVICES=no ;;
    --no-packages) PACKAGES=no ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

# -- checks: every bad value stops here with what to do ------------------------------------------
[[ "$HTTP_PORT" =~ ^[0-9]{1,5}$ ]] || die "--http-port must be a number, got '$HTTP_PORT'"
[[ "$HTTPS_PORT" =~ ^[0-9]{1,5}$ ]] || die "--https-port must be a number, got '$HTTPS_PORT'"
[[ "$WORKERS" =~ ^[1-9][0-9]?$ ]] || die "--workers must be 1-99, got '$WORKERS'"
[[ "$SERVER_NAME" =~ ^[A-Za-z0-9.-]+$ ]] || die "--server-name must be a host name, got '$SERVER_NAME'"
[[ "$SVC_USER" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--user must be a Unix user name, got '$SVC_USER'"
[[ -z "$ADMIN_ALLOW" || "$ADMIN_ALLOW" =~ ^[0-9A-Fa-f:./,]+$ ]] ||
  die "--admin-allow takes addresses or CIDRs separated by commas, got '$ADMIN_ALLOW'"
[[ -z "$METRICS_ALLOW" || "$METRICS_ALLOW" =~ ^[0-9A-Fa-f:./,]+$ ]] ||
  die "--metrics-allow takes addresses or CIDRs separated by commas, got '$METRICS_ALLOW'"
[[ -z "$GENERIC_CALLBACK" || "$GENERIC_CALLBACK" =~ ^https?://[^[:space:]\"]+$ ]] ||
  die "--generic-callback must be an http(s) URL, got '$GENERIC_CALLBACK'"
[[ -n "$CERT" && -z "$KEY" || -z "$CERT" && -n "$KEY" ]] && die "give --cert and --key together"
[[ -z "$CERT" || -r "$CERT" ]] || die "cannot read --cert $CERT"
[[ -z "$KEY" || -r "$KEY" ]] || die "cannot read --key $KEY"
[[ "$PREFIX" != *"|"* ]] || die "--prefix must not contain '|'"
if [ -n "$PREFIX" ]; then
  mkdir -p "$PREFIX"
  PREFIX="$(cd "$PREFIX" && pwd)"
  [ "$SERVICES" = auto ] && SERVICES=no
fi
[ "$SERVICES" = auto ] && SERVICES=yes
if [ "$IPV6" = auto ]; then
  if grep -q . /proc/net/if_inet6 2>/dev/null; then IPV6=yes; else IPV6=no; fi
fi
IS_ROOT=no
[ "$(id -u)" = 0 ] && IS_ROOT=yes
if [ "$IS_ROOT" = no ]; then
  [ -n "$PREFIX" ] || die "run as root (sudo), or give --prefix to install below a folder of your own"
  SVC_USER="$(id -un)"
fi

APP="$PREFIX/opt/smartbot"
ETC="$PREFIX/etc/smartbot"
HOME_DIR="$PREFIX/var/lib/smartbot"
DATA="$HOME_DIR/data"
RUN="$HOME_DIR/run"
LOGS="$PREFIX/var/log/smartbot"
NGINX_CONF="$PREFIX/etc/nginx/conf.d/smartbot.conf"
SUPERVISOR_CONF="$PREFIX/etc/supervisor/conf.d/smartbot.conf"
ENV_FILE="$ETC/env"
CONFIG="$ETC/smartbot.toml"

# -- helpers ------------------------------------------------------------------------------------
# Set mode and owner only when they differ, so a second run changes nothing.
set_attrs() { # path mode owner:group
  local path="$1" mode="$2" owner="$3"
  [ "$(stat -c %a "$path")" = "$mode" ] || chmod "$mode" "$path"
  if [ "$IS_ROOT" = yes ] && [ "$(stat -c %U:%G "$path")" != "$owner" ]; then chown "$owner" "$path"; fi
}

ensure_dir() { # path mode owner:group
  [ -d "$1" ] || mkdir -p "$1"
  set_attrs "$@"
}

CHANGED=()
# Install stdin as a file, only when the content differs; records what changed.
# Nothing is written when the content is the same (not even a temporary file beside it, which
# would change the folder's mtime); otherwise the new file replaces the old one atomically.
put_file() { # path mode owner:group
  local path="$1" content tmp
  content="$(cat; echo .)"
  content="${content%.}"
  if [ -f "$path" ] && printf '%s' "$content" | cmp -s - "$path"; then
    :
  else
    tmp="$(mktemp "$(dirname "$path")/.install.XXXXXX")"
    printf '%s' "$content" >"$tmp"
    mv -f "$tmp" "$path"
    CHANGED+=("$path")
  fi
  set_attrs "$@"
}

run_as_service() {
  if [ "$IS_ROOT" = yes ]; then
    (cd "$HOME_DIR" && runuser -u "$SVC_USER" -- "$@")
  else
    (cd "$HOME_DIR" && "$@")
  fi
}

# A comma-separated list as more TOML array items: , "a", "b" (the checks above allow no quotes in it).
toml_items() {
  local entry out=""
  IFS=',' read -ra entries <<<"$1"
  for entry in "${entries[@]}"; do
    [ -n "$entry" ] && out="$out, \"$entry\""
  done
  printf '%s' "$out"
}

random_secret() { "$PYTHON_BIN" -c 'import secrets; print(secrets.token_urlsafe(48))'; }

# -- system packages and the service user ---------------------------------------------------------
if [ "$PACKAGES" = auto ]; then
  if [ "$IS_ROOT" = yes ] && [ -z "$PREFIX" ] && command -v apt-get >/dev/null; then PACKAGES=yes; else PACKAGES=no; fi
fi
if [ "$PACKAGES" = yes ]; then
  missing=()
  for pkg in nginx supervisor openssl python3 python3-venv; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
for tool in openssl cmp stat tar sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install openssl coreutils diffutils tar"
done

if [ "$IS_ROOT" = yes ]; then
  if ! getent passwd "$SVC_USER" >/dev/null; then
    say "creating system user $SVC_USER"
    useradd --system --user-group --home-dir "$HOME_DIR" --no-create-home --shell /usr/sbin/nologin "$SVC_USER"
  fi
  getent group "$NGINX_GROUP" >/dev/null || NGINX_GROUP="$(id -gn "$SVC_USER")"
else
  NGINX_GROUP="$(id -gn)"
fi
SVC_GROUP="$(id -gn "$SVC_USER")"
ROOT_GROUP="$(id -gn)"
OWN_ROOT="$(id -un):$ROOT_GROUP"

# -- folders ------------------------------------------------------------------------------------
ensure_dir "$APP" 755 "$OWN_ROOT"
ensure_dir "$APP/releases" 755 "$OWN_ROOT"
ensure_dir "$APP/bin" 755 "$OWN_ROOT"
ensure_dir "$ETC" 750 "$(id -un):$SVC_GROUP"
ensure_dir "$ETC/tls" 700 "$OWN_ROOT"
ensure_dir "$HOME_DIR" 711 "$SVC_USER:$SVC_GROUP"
ensure_dir "$DATA" 700 "$SVC_USER:$SVC_GROUP"
ensure_dir "$RUN" 750 "$SVC_USER:$NGINX_GROUP"
ensure_dir "$LOGS" 750 "$SVC_USER:$SVC_GROUP"
ensure_dir "$(dirname "$NGINX_CONF")" 755 "$OWN_ROOT"
ensure_dir "$(dirname "$SUPERVISOR_CONF")" 755 "$OWN_ROOT"

# -- the release: this checkout's code, unpacked once per content ---------------------------------
SHIPPED=(smartbot migrations requirements.txt setup.cfg pyproject.toml README.md smartbot.example.toml
         nginx supervisor deploy scripts/_env.sh scripts/get_pip.py)
RELEASE_ID="$(cd "$SRC" && find "${SHIPPED[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
RELEASE="$APP/releases/$RELEASE_ID"
PREVIOUS="$(readlink "$APP/current" 2>/dev/null || true)"
if [ ! -d "$RELEASE" ]; then
  say "unpacking release $RELEASE_ID"
  staging="$(mktemp -d "$APP/releases/.staging.XXXXXX")"
  (cd "$SRC" && tar -cf - --exclude=__pycache__ --exclude='*.pyc' "${SHIPPED[@]}") | tar -C "$staging" -xf -
  chmod 755 "$staging"
  mv "$staging" "$RELEASE"
fi

# The virtualenv: Debian's python3 (readable by the service user), requirements installed when they change.
if [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ]; then export PYTHON=/usr/bin/python3; fi
export SMARTBOT_VENV="$APP/venv"
# shellcheck source=../scripts/_env.sh
source "$RELEASE/scripts/_env.sh"
set -euo pipefail
shopt -s lastpipe
if [ ! -x "$VENV/bin/python" ]; then say "creating the virtualenv $VENV"; fi
make_venv
PYTHON_BIN="$VENV/bin/python"
REQ_STAMP="$VENV/.smartbot-requirements"
req_sum="$(sha256sum "$RELEASE/requirements.txt" | cut -c1-64)"
if [ "$(cat "$REQ_STAMP" 2>/dev/null || true)" != "$req_sum" ]; then
  say "installing the Python requirements"
  "$PYTHON_BIN" -m pip install --quiet --disable-pip-version-check -r "$RELEASE/requirements.txt"
  echo "$req_sum" >"$REQ_STAMP"
fi
site="$("$PYTHON_BIN" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$APP/current" | put_file "$site/smartbot.pth" 644 "$OWN_ROOT"
if [ ! -f "$RELEASE/.compiled" ]; then
  "$PYTHON_BIN" -m compileall -q "$RELEASE/smartbot" "$RELEASE/migrations" >/dev/null
  touch "$RELEASE/.compiled"
fi

# -- commands: the env wrapper (secrets never in supervisor's config) and `smartbot` ---------------
render_paths() {
  sed -e "s|/opt/smartbot/|$APP/|g" -e "s|/etc/smartbot/|$ETC/|g" \
      -e "s|/var/lib/smartbot|$HOME_DIR|g" -e "s|/var/log/smartbot/|$LOGS/|g"
}
render_paths <"$RELEASE/deploy/smartbot-env" | put_file "$APP/bin/smartbot-env" 755 "$OWN_ROOT"
render_paths <"$RELEASE/deploy/smartbot" | put_file "$APP/bin/smartbot" 755 "$OWN_ROOT"

# -- secrets and configuration: made once, kept afterwards -----------------------------------------
if [ ! -f "$ENV_FILE" ]; then
  say "generating the signing key and the webhook secret into $ENV_FILE"
  {
    echo "# SmartBot's secrets, read by bin/smartbot-env. Only $SVC_USER may read this file."
    echo "SMARTBOT_CONFIG='$CONFIG'"
    echo "SMARTBOT_SECRET_KEY='$(random_secret)'"
    echo "SMARTBOT_GENERIC_SECRET='$(random_secret)'"
  } | put_file "$ENV_FILE" 600 "$SVC_USER:$SVC_GROUP"
else
  set_attrs "$ENV_FILE" 600 "$SVC_USER:$SVC_GROUP"
fi

if [ ! -f "$CONFIG" ]; then
  say "writing $CONFIG"
  {
    cat <<TOML
# SmartBot configuration, written by deploy/install.sh. Edit it freely: the installer never
# overwrites it. Secrets are not in this file: they are in $ENV_FILE (readable only by $SVC_USER),
# named here by *_env keys. See smartbot.example.toml and the README for every key.

database_url = "sqlite:///$DATA/smartbot.db"
secret_key_env = "SMARTBOT_SECRET_KEY"
default_locale = "en"
log_format = "json"

[server]
bind = "unix:$RUN/gunicorn.sock"
workers = $WORKERS
threads = 8
metrics_dir = "$RUN/metrics"

[security]
trusted_proxies = 1                         # nginx in front: client address and https from X-Forwarded-*

[ops]
metrics_allow = ["127.0.0.1", "::1"$(toml_items "$METRICS_ALLOW")]   # may read /metrics and /readyz's details

[alerts]
chats = []                                  # admins' chats for alerts, e.g. ["telegram:123456"]
TOML
    if [ -n "$GENERIC_CALLBACK" ]; then
      cat <<TOML

[channels.generic]
secret_env = "SMARTBOT_GENERIC_SECRET"
callback_url = "$GENERIC_CALLBACK"
TOML
    fi
  } | put_file "$CONFIG" 640 "$(id -un):$SVC_GROUP"
else
  set_attrs "$CONFIG" 640 "$(id -un):$SVC_GROUP"
fi

# -- TLS ------------------------------------------------------------------------------------------
if [ -n "$CERT" ]; then
  put_file "$ETC/tls/cert.pem" 644 "$OWN_ROOT" <"$CERT"
  put_file "$ETC/tls/key.pem" 600 "$OWN_ROOT" <"$KEY"
elif [ ! -f "$ETC/tls/cert.pem" ] || [ ! -f "$ETC/tls/key.pem" ]; then
  say "making a self-signed certificate for $SERVER_NAME (give --cert/--key for a real one)"
  (umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=$SERVER_NAME" \
      -addext "subjectAltName=DNS:$SERVER_NAME,DNS:localhost,IP:127.0.0.1" \
      -keyout "$ETC/tls/key.pem" -out "$ETC/tls/cert.pem" 2>/dev/null)
  chmod 644 "$ETC/tls/cert.pem"
  CHANGED+=("$ETC/tls/cert.pem")
fi

# -- nginx and supervisor configs, from the shipped ones ------------------------------------------
allow_lines() { # comma-separated list -> geo lines that allow each entry
  local entry
  IFS=',' read -ra entries <<<"$1"
  for entry in "${entries[@]}"; do
    [ -n "$entry" ] && printf '    %s 0;\n' "$entry"
  done
}
render_nginx() {
  local redirect='https://$host$request_uri'
  [ "$HTTPS_PORT" = 443 ] || redirect="https://\$host:$HTTPS_PORT\$request_uri"
  render_paths <"$RELEASE/nginx/smartbot.conf" | sed \
      -e "s|^\( *\)listen 80;|\1listen $HTTP_PORT;|" -e "s|^\( *\)listen \[::\]:80;|\1listen [::]:$HTTP_PORT;|" \
      -e "s|^\( *\)listen 443 ssl http2;|\1listen $HTTPS_PORT ssl http2;|" \
      -e "s|^\( *\)listen \[::\]:443 ssl http2;|\1listen [::]:$HTTPS_PORT ssl http2;|" \
      -e "s|return 301 https://\$host\$request_uri;|return 301 $redirect;|" \
      -e "s|^\( *\)server_name _;|\1server_name $SERVER_NAME;|" |
    if [ "$IPV6" = yes ]; then cat; else grep -v 'listen \[::\]'; fi |
    if [ -n "$ADMIN_ALLOW" ]; then
      awk -v lines="$(allow_lines "$ADMIN_ALLOW")" '
        /^ *default 0;$/ && !done { sub(/0;/, "1;"); print; next }
        /# admin allowlist/ && !done { print; print lines; done = 1; next }
        { print }'
    else cat; fi |
    if [ -n "$METRICS_ALLOW" ]; then
      awk -v lines="$(allow_lines "$METRICS_ALLOW")" '/# metrics allowlist/ { print; print lines; next } { print }'
    else cat; fi
}
render_nginx | put_file "$NGINX_CONF" 644 "$OWN_ROOT"

ensure_dir "$PREFIX/etc/logrotate.d" 755 "$OWN_ROOT"
render_paths <"$RELEASE/deploy/logrotate.conf" | put_file "$PREFIX/etc/logrotate.d/smartbot" 644 "$OWN_ROOT"

render_paths <"$RELEASE/supervisor/smartbot.conf" |
  if [ "$IS_ROOT" = yes ]; then sed "s|^user=smartbot$|user=$SVC_USER|"; else grep -v '^user='; fi |
  put_file "$SUPERVISOR_CONF" 644 "$OWN_ROOT"

# -- switch to the release and migrate --------------------------------------------------------------
UPGRADED=no
if [ "$PREVIOUS" != "releases/$RELEASE_ID" ]; then
  ln -sfn "releases/$RELEASE_ID" "$APP/current.new"
  mv -Tf "$APP/current.new" "$APP/current"
  UPGRADED=yes
  say "release $RELEASE_ID is current${PREVIOUS:+ (was ${PREVIOUS#releases/})}"
  # keep the current release and the two before it, for a rollback by hand
  keep=$(ls -1t "$APP/releases" | head -n 3)
  for old in "$APP"/releases/*; do
    grep -qx "$(basename "$old")" <<<"$keep" || rm -rf "$old"
  done
fi
run_as_service "$APP/bin/smartbot" db upgrade >/dev/null

# -- services -------------------------------------------------------------------------------------
if [ "$SERVICES" = yes ]; then
  if [ -n "$NGINX" ]; then
    $NGINX -t -q || die "nginx rejected the configuration (see above); nothing was reloaded"
    if [ "${#CHANGED[@]}" -gt 0 ]; then
      $NGINX -s reload 2>/dev/null && say "nginx reloaded" || say "nginx is not running: start it (nginx)"
    fi
  fi
  if [ -n "$SUPERVISORCTL" ]; then
    if $SUPERVISORCTL pid >/dev/null 2>&1; then
      $SUPERVISORCTL reread >/dev/null
      $SUPERVISORCTL update >/dev/null       # adds new programs, restarts those whose config changed
      if [ "$UPGRADED" = yes ] && $SUPERVISORCTL status smartbot 2>/dev/null | grep -q RUNNING; then
        say "restarting smartbot gracefully on the new release"
        $SUPERVISORCTL restart smartbot >/dev/null
      fi
    else
      say "supervisord is not running: start it (service supervisor start, or supervisord)"
    fi
  fi
fi

say "SmartBot $RELEASE_ID installed in $APP"
say "config $CONFIG, secrets $ENV_FILE, logs $LOGS, https://$SERVER_NAME:$HTTPS_PORT/"
if [ "$UPGRADED" = yes ] && [ -z "$PREVIOUS" ]; then
  say "next: create the first admin:  sudo -u $SVC_USER $APP/bin/smartbot create-admin"
fi

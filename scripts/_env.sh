# Shared by start.sh and test.sh: find Python 3.11+, and make a virtualenv with pip in it even on a
# Debian/Ubuntu machine whose python3 lacks ensurepip (no python3-venv package installed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SMARTBOT_VENV:-$ROOT/.venv}"

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "SmartBot needs Python 3.11 or newer; install it (e.g. apt-get install python3) and retry." >&2
  return 1
}

make_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    return 0
  fi
  local py
  py="$(find_python)"
  rm -rf "$VENV"
  if ! "$py" -m venv "$VENV" >/dev/null 2>&1; then
    # No ensurepip (Debian without python3-venv): make the venv bare and fetch pip from PyPI.
    rm -rf "$VENV"
    "$py" -m venv --without-pip "$VENV"
    "$VENV/bin/python" "$ROOT/scripts/get_pip.py"
  fi
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
}

# A line from the catalogues in the terminal's language (smartbot/i18n/terminal.py), or the English
# given when SmartBot cannot be imported yet (the first install: its packages are not there).
say_or() {
  local key="$1" english="$2"
  shift 2
  "$VENV/bin/python" -m smartbot.i18n.terminal "$key" "$@" 2>/dev/null || echo "$english"
}

# Install the requirements (plus any `-r file` given) and this checkout, editable. Skipped when a
# stamp in the virtualenv says these exact files were installed from this checkout already; pip's
# output is kept in a log and shown only when it fails.
install_requirements() {
  local stamp="$VENV/.smartbot-installed" log="$VENV/.smartbot-install.log" files=() arg sum
  files=("$ROOT/requirements.txt" "$ROOT/setup.cfg" "$ROOT/pyproject.toml")
  for arg in "$@"; do
    if [ -f "$arg" ]; then files+=("$arg"); fi
  done
  sum="$( { echo "$ROOT"; cat "${files[@]}"; } | sha256sum | cut -c1-64)"
  if grep -qx "$sum" "$stamp" 2>/dev/null && installed_from_here; then
    return 0
  fi
  say_or setup.installing "installing SmartBot's Python packages into $VENV ..." "venv=$VENV"
  if ! { "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements.txt" "$@" &&
         "$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"; } >"$log" 2>&1; then
    cat "$log" >&2
    say_or setup.install_failed "installing the Python packages failed: the output above is also in $log" \
      "log=$log" >&2
    return 1
  fi
  echo "$sum" >>"$stamp"
}

# Whether the virtualenv's `smartbot` is this checkout's (a shared SMARTBOT_VENV may hold another's).
installed_from_here() {
  (cd / && "$VENV/bin/python" - "$ROOT" >/dev/null 2>&1 <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("smartbot")
here = os.path.realpath(os.path.join(sys.argv[1], "smartbot", "__init__.py"))
sys.exit(0 if spec and spec.origin and os.path.realpath(spec.origin) == here else 1)
PY
  )
}

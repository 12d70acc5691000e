#!/usr/bin/env bash
# Set up everything the test suite needs and run all of it. Extra arguments go to pytest.
# The tests run on several pytest-xdist workers, each taking whole modules: one more worker than
# CPUs (at most 8), as most tests wait on servers they started. They take the modules longest first
# (tests/support/parallel.py), not xdist's order by number of tests. SMARTBOT_TEST_WORKERS=N picks N;
# `-n 0` runs everything in one process.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"

# System packages some tests drive for real, installed when we may (root, apt-get present);
# the CJK font lets the browser tests' zh-CN screenshots show Chinese instead of empty boxes.
SYSTEM_PACKAGES=(wrk chromium fonts-wqy-microhei iputils-ping curl procps nginx supervisor openssl)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

make_venv
install_requirements -r "$ROOT/requirements-dev.txt"

cd "$ROOT"
eval "$("$VENV/bin/python" scripts/detect_services.py)"
parallel=()
case " $* " in
  *" -n "*|*" -n"[0-9]*|*" --numprocesses"*|*" -p no:xdist "*|*" --pdb "*|*" --trace "*) ;;
  *) parallel=(-n "${SMARTBOT_TEST_WORKERS:-$(( $(nproc) + 1 > 8 ? 8 : $(nproc) + 1 ))}"
               --dist loadfile --no-loadscope-reorder) ;;
esac
exec "$VENV/bin/python" -m pytest "${parallel[@]}" "$@"

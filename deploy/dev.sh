#!/usr/bin/env bash
# The two developer commands. Each sets itself up on a fresh machine (Python 3.11 + pip).
#   bash deploy/dev.sh demo   start the service with demo data on SQLite; prints URL + admin token
#   bash deploy/dev.sh screenshots   draw the README's screenshots again (tests/web/screenshots)
#   bash deploy/dev.sh test   run the whole test suite on two workers (PostgreSQL too when
#                             GPUHOURS_TEST_DATABASE_URL is set; Slurm tests when the rig runs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${GPUHOURS_VENV:-$ROOT/.venv}

setup() {
  local py
  py=$(command -v python3.11 || command -v python3)
  if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "gpuhours: error: Python 3.11 is required ($py is $("$py" --version))" >&2
    exit 2
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    "$py" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(cat pyproject.toml deploy/constraints.txt | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    # deploy/constraints.txt pins the versions the suite last passed with, so a fresh machine
    # gets the same ones (a new release upstream cannot turn CI red overnight); refresh it with
    # `.venv/bin/pip freeze --exclude-editable > deploy/constraints.txt` after an upgrade.
    # (this machine's pip.conf names local indexes that may be absent: drop that noise)
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      -c deploy/constraints.txt -e ".[dev]" 2>&1 \
      | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    touch "$stamp"
  fi
}

case "${1:-}" in
  demo)
    setup
    shift
    export GPUHOURS_DATA_DIR=${GPUHOURS_DATA_DIR:-$ROOT/data}
    # ENACT counts in Paris time (a database seeded in another zone is refused: see README)
    export GPUHOURS_TIME_ZONE=${GPUHOURS_TIME_ZONE:-Europe/Paris}
    exec "$VENV/bin/gpuhours" serve --demo "$@"
    ;;
  test)
    setup
    shift
    # two workers (pytest-xdist): the suite waits on Slurm, browsers and servers as much as it
    # computes. Tests sharing one live Slurm rig stay on one worker (tests/conftest.py).
    # `-n 0` (given after) runs in this process, e.g. for a debugger.
    exec "$VENV/bin/python" -m pytest -n "${GPUHOURS_TEST_WORKERS:-2}" --dist loadgroup "$@"
    ;;
  screenshots)
    # the README's screenshots, drawn again by the browser test (Debian's chromium)
    setup
    shift
    GPUHOURS_SCREENSHOTS="$ROOT/tests/web/screenshots" exec "$VENV/bin/python" -m pytest -q \
      tests/web/test_screenshots.py -k sqlite -p no:randomly "$@"
    ;;
  lint)
    setup
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
    "$VENV/bin/lint-imports"
    ;;
  *)
    echo "usage: bash deploy/dev.sh demo|test|lint|screenshots [args]" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Chart, Dockerfile and Argo CD health-check tests.
#   bash tests/chart/run.sh [pytest args...]
# Installs what it needs on a fresh machine: the Python packages pinned in
# tests/chart/requirements.txt (into .venv, or pip --user when a venv cannot
# be made), and lua5.4 and promtool (Debian package prometheus) when they are
# missing (root only).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
REQS=tests/chart/requirements.txt
PYTHON=${PYTHON:-python3}

# Debian packages: lua5.4 (Argo CD health checks) and prometheus (promtool, for the alerts).
MISSING=()
command -v lua5.4 >/dev/null 2>&1 || MISSING+=(lua5.4)
command -v promtool >/dev/null 2>&1 || MISSING+=(prometheus)
if [ ${#MISSING[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run.sh: installing ${MISSING[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # --no-install-recommends: promtool is all that is used of the prometheus package.
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >/dev/null
  else
    echo "run.sh: ${MISSING[*]} missing and cannot apt-get; the tests that need them fail" >&2
  fi
fi

VENV=.venv
STAMP=$VENV/.chart-requirements
if [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
  PY=$VENV/bin/python
  if ! cmp -s "$REQS" "$STAMP"; then
    "$PY" -m pip install -q --disable-pip-version-check -r "$REQS"
    cp "$REQS" "$STAMP"
  fi
else
  echo "run.sh: no venv module; installing with pip --user" >&2
  PY=$PYTHON
  "$PY" -m pip install -q --disable-pip-version-check --user -r "$REQS"
fi

exec "$PY" -m pytest -q -p no:cacheprovider tests/chart "$@"

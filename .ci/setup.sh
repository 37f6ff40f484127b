#!/usr/bin/env bash
# Prepare a machine for dancerec: system libraries (WeasyPrint's Pango, a CJK font, pdftoppm, Graphviz dot),
# then a virtual environment with the CPU build of torch installed *before* the project, so that
# pip never pulls an unpinned torch with gigabytes of CUDA packages. Safe to run again.
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}

system_packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-wqy-microhei poppler-utils graphviz)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in "${system_packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else sudo="none"; fi
  if [ "$sudo" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "warning: cannot install ${missing[*]} (need apt-get as root); PDF reports may not work" >&2
  else
    echo "installing system packages: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "error: dancerec needs Python >= 3.11 (found $("$PYTHON" --version))" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
# This machine's pip config lists mirror folders that may not exist; pip warns about each one.
quiet() { "$@" 2> >(grep -v "^WARNING: Location .* is ignored" >&2); }
if ! "$VENV/bin/python" -c 'import torch, sys; sys.exit(not torch.__version__.startswith("2.13.0"))' 2>/dev/null; then
  echo "installing torch==2.13.0 (CPU build) into $VENV" >&2
  quiet "${pip[@]}" install "torch==2.13.0"
fi
echo "installing dancerec and its dependencies into $VENV" >&2
quiet "${pip[@]}" install -e ".[dev]"
# An editable install leaves the project's modules uncompiled; where PYTHONDONTWRITEBYTECODE is set (as on
# this project's machines) every command would then compile ~40 modules from source (~30 ms per start).
"$VENV/bin/python" -m compileall -q dancerec survey indices recommender reports >/dev/null

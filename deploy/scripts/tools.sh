#!/usr/bin/env bash
# Install the pinned check tools (deploy/requirements-tools.txt) into deploy/.tools/venv,
# once per change of that file; print the venv's bin directory. PYTHON (3.9+) makes the venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=deploy/scripts/lib.sh
. deploy/scripts/lib.sh

venv=deploy/.tools/venv
requirements=deploy/requirements-tools.txt
stamp=$venv/.installed

if [[ ! -f $stamp ]] || ! cmp -s "$requirements" "$stamp"; then
  python=${PYTHON:-python3}
  need "$python" "a Python 3.9+ is needed to install the check tools"
  say "installing the check tools into $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  log=$(dirname "$venv")/install.log
  if ! { "$python" -m venv "$venv" &&
    "$venv/bin/python" -m pip install --disable-pip-version-check \
      --requirement "$requirements"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "installing $requirements failed (full log: $log)"
  fi
  cp "$requirements" "$stamp"
fi
printf '%s\n' "$PWD/$venv/bin"

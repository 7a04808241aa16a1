#!/usr/bin/env bash
# Create/refresh the host venv (.venv): pinned requirements, Horovod (a wheel compiled once per machine, see
# dev/machine_cache.py), our packages editable. A stamp keyed on the inputs' hash makes a second run a no-op;
# one line says which it was.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv=.venv
stamp="$venv/.byoc-requirements.sha256"
inputs=(requirements/constraints.txt requirements/dev-constraints.txt requirements/dev.txt pyproject.toml
  dev/ensure_venv.sh dev/machine_cache.py)
wanted="$(cat "${inputs[@]}" | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "venv: requirements unchanged, skipping"
  exit 0
fi
if [[ -x "$venv/bin/python" ]]; then
  echo "venv: requirements changed or never stamped, updating $venv"
else
  echo "venv: creating $venv"
  python3 -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet)
"${pip[@]}" -r requirements/dev.txt
# Horovod ships no wheels: compiled against the TF just installed, once per machine and pins.
horovod_wheel="$("$venv/bin/python" dev/machine_cache.py horovod-wheel)"
"${pip[@]}" --no-deps "$horovod_wheel"
"${pip[@]}" --no-deps -e .
echo "$wanted" > "$stamp"
echo "venv: ready"

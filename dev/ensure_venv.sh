#!/usr/bin/env bash
# Create/refresh the host venv (.venv): pinned requirements, Horovod compiled against its TF, our packages
# editable. A stamp keyed on the inputs' hash makes a second run a no-op; one line says which it was.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv=.venv
stamp="$venv/.byoc-requirements.sha256"
inputs=(requirements/constraints.txt requirements/dev-constraints.txt requirements/dev.txt pyproject.toml dev/ensure_venv.sh)
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
# Horovod has no wheels: compile it against the TF just installed (hence --no-build-isolation); pip's wheel
# cache makes later venvs reuse the build.
HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 \
HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
  "${pip[@]}" --no-build-isolation -c requirements/constraints.txt horovod
"${pip[@]}" --no-deps -e .
echo "$wanted" > "$stamp"
echo "venv: ready"

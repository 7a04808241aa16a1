#!/usr/bin/env bash
# Everything `make test` needs, from a fresh Debian machine (as root), with the steps that do not wait on each
# other running side by side:
#
#   host packages -> Docker engine -> +-- venv lane:   host venv (Horovod wheel compiled once per machine)
#                                     +-- images lane: wheelhouse, rootfs, training base, serving base and
#                                                      image, SageMaker SDK venv (machine cache)
#                 -> training image (installs the venv lane's Horovod wheel from the wheelhouse)
#
# Every step prints what it does or skips (prefixed with its name) and its wall time; the table is kept in
# build/timings/setup.tsv for the test run's closing summary (tests/conftest.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
timings=build/timings/setup.tsv
mkdir -p "$(dirname "$timings")"
: >"$timings"

# step NAME COMMAND...: run, prefix its output, record its wall time; returns its exit code.
step() {
  local name="$1" started status
  shift
  started=$(date +%s)
  set +e
  "$@" 2>&1 | sed -u "s/^/[$name] /"
  status=${PIPESTATUS[0]}
  set -e
  printf '%s\t%s\t%s\n' "$name" "$(($(date +%s) - started))" "$status" >>"$timings"
  return "$status"
}

started=$(date +%s)
step host-packages bash dev/install_host_packages.sh
step engine bash dev/ensure_docker.sh
# The images lane runs the stdlib-only dev/images.py with the interpreter that makes the venv, before the venv
# exists. The SDK venv comes last in it: the container tier needs it, nothing in this set-up does.
step venv bash dev/ensure_venv.sh &
venv_lane=$!
{
  step training-base python3 dev/images.py --only training-base \
    && step serving-image python3 dev/images.py --only serve \
    && step sdk-venv python3 -m tests.container.sdk_local.sdk_venv
} &
images_lane=$!
venv_status=0 images_status=0
wait "$venv_lane" || venv_status=$?
wait "$images_lane" || images_status=$?
if ((venv_status != 0 || images_status != 0)); then
  echo "setup: failed (venv lane exit $venv_status, images lane exit $images_status); see the lines above" >&2
  exit 1
fi
step images .venv/bin/python dev/images.py
printf '%s\t%s\t%s\n' "setup (wall)" "$(($(date +%s) - started))" 0 >>"$timings"
echo "setup: ready in $(($(date +%s) - started)) s"

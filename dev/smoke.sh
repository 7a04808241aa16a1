#!/usr/bin/env bash
# `make smoke`: the docker-compose smoke test. Sequenced here rather than with depends_on conditions, which
# compose-file v3 under docker-compose v1 does not support; the client's exit code is the result.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose); else compose=(docker compose); fi
export SMOKE_DIR=${SMOKE_DIR:-./build/smoke}
project=(-p byoc-smoke -f docker-compose.yml)

.venv/bin/python -m scripts.smoke --output "$SMOKE_DIR" "$@"
cleanup() { "${compose[@]}" "${project[@]}" down --remove-orphans --timeout 30 >/dev/null 2>&1 || true; }
trap cleanup EXIT
echo "smoke: training (${compose[*]} run train)"
"${compose[@]}" "${project[@]}" run --rm train
echo "smoke: serving"
"${compose[@]}" "${project[@]}" up -d serve
set +e
"${compose[@]}" "${project[@]}" run --rm smoke
rc=$?
set -e
[ "$rc" -eq 0 ] || "${compose[@]}" "${project[@]}" logs --tail 40 serve
exit "$rc"

#!/usr/bin/env bash
# Make a Docker engine answer `docker info`: reuse a reachable one, else install Debian's docker.io and start
# dockerd in the background (log: build/dockerd.log). One line per decision; bounded wait, clear failure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
log="$root/build/dockerd.log"
wait_seconds="${BYOC_DOCKERD_WAIT_SECONDS:-60}"

if docker info >/dev/null 2>&1; then
  echo "docker: engine reachable, reusing"
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker: no engine installed, installing docker.io docker-compose"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io docker-compose >/dev/null
fi
if pgrep -x dockerd >/dev/null 2>&1; then
  echo "docker: dockerd running but not answering yet, waiting up to ${wait_seconds}s"
else
  echo "docker: starting dockerd (log: ${log#"$root"/})"
  mkdir -p "$(dirname "$log")"
  # setsid: the daemon must outlive this make invocation and not get its terminal's signals.
  setsid dockerd >"$log" 2>&1 < /dev/null &
fi
for ((i = 0; i < wait_seconds; i++)); do
  if docker info >/dev/null 2>&1; then
    echo "docker: engine ready after ${i}s"
    exit 0
  fi
  sleep 1
done
echo "docker: engine did not answer within ${wait_seconds}s; last lines of ${log}:" >&2
tail -n 20 "$log" >&2 2>/dev/null || true
exit 1

#!/usr/bin/env bash
# Install the Debian packages listed in dev/host-packages.txt that are missing; says what it did in one line.
set -euo pipefail
list="$(dirname "$0")/host-packages.txt"
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list")
missing=()
for package in "${wanted[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  echo "host packages: all ${#wanted[@]} installed, skipping apt-get"
  exit 0
fi
if ((EUID != 0)); then
  echo "host packages: missing ${missing[*]}; run as root (or install them) first" >&2
  exit 1
fi
echo "host packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

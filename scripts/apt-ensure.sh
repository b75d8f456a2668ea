#!/usr/bin/env bash
# Install the named Debian packages that are not installed yet.
#   apt-ensure.sh [--optional] PKG...
# --optional: if they cannot be installed (no root, no apt), say so and go on.
set -euo pipefail
optional=0
if [ "${1:-}" = "--optional" ]; then optional=1; shift; fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    if [ $optional -eq 1 ]; then
      echo "note: cannot install ${missing[*]} (not root, no sudo); continuing without" >&2; exit 0
    fi
    echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  if [ $optional -eq 1 ]; then echo "note: no apt-get; continuing without ${missing[*]}" >&2; exit 0; fi
  echo "error: no apt-get; install these packages by hand: ${missing[*]}" >&2; exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -q && $sudo apt-get install -y -q "${missing[@]}"; } >&2; then
  if [ $optional -eq 1 ]; then echo "note: could not install ${missing[*]}; continuing" >&2; exit 0; fi
  exit 1
fi
# Debian starts services on install; the hub's tests and demo run their own instances.
for svc in mosquitto influxdb; do
  if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null 2>&1; then
    $sudo systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
done

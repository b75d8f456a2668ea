#!/usr/bin/env bash
# The ingester's fast MQTT path uses paho-mqtt internals (ingest/mqtt_fast.py), so its tests
# run against the lowest and the highest paho-mqtt the pin in pyproject.toml allows.
# The suite has just run with what pip installed (the highest the pin allows); this runs
# tests/ingest again with the lowest, then puts the highest back. Usage:
#   scripts/paho-matrix.sh .venv
set -euo pipefail
venv="${1:-.venv}"
py="$venv/bin/python"
spec=$("$py" - <<'PY'
import re, tomllib
extras = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]
print(next(r for r in extras["ingest"] if r.startswith("paho-mqtt")))
PY
)
lowest=$(sed -E 's/.*>=([0-9.]+).*/\1/' <<<"$spec")
installed=$("$py" -c 'import importlib.metadata as m; print(m.version("paho-mqtt"))')
echo "paho-mqtt: pin '$spec', installed (highest allowed) $installed, lowest $lowest"
same=$("$py" -c "from packaging.version import Version as V; print(V('$installed') == V('$lowest'))")
if [[ "$same" == "True" ]]; then
    echo "paho-mqtt: the highest version the pin allows is the lowest; the suite's run covers both"
    exit 0
fi
restore() { "$py" -m pip install --quiet --disable-pip-version-check "paho-mqtt==$installed"; }
trap restore EXIT  # the venv gets its paho back however this ends
"$py" -m pip install --quiet --disable-pip-version-check "paho-mqtt==$lowest"
status=0
"$venv/bin/pytest" -q tests/ingest || status=$?
echo "paho-mqtt: tests/ingest with $lowest: exit $status; $installed restored"
exit "$status"

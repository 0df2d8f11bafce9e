#!/usr/bin/env bash
# Re-resolves a stand-in's Python packages from requirements.in and freezes
# them into requirements.txt. Run by hand when changing a version; the
# bootstrap only ever installs the frozen set.
#   usage: ci/images/lock.sh airflow|dbt
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)/$1
[ -f "$dir/requirements.in" ] || { echo "no $dir/requirements.in" >&2; exit 2; }
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3.11 -m venv "$venv"
"$venv/bin/pip" install -q -r "$dir/requirements.in"
{
	echo "# Frozen from requirements.in by ci/images/lock.sh; do not edit by hand."
	"$venv/bin/pip" freeze
} >"$dir/requirements.txt"

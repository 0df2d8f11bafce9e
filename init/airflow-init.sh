#!/usr/bin/env bash
# airflow-init: migrate the metadata database, create the admin user if it is
# missing, and warn when the machine is below the spec's minimum resources.
# Unlike the official image's init it fails on any error, and a second run on
# an initialised database succeeds without changing anything.
set -euo pipefail

warn() { echo "WARNING: $*" >&2; }

mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 ))
cpus=$(nproc)
disk_gb=$(( $(df -Pk "$AIRFLOW_HOME" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
echo "resources: ${mem_mb} MB memory, ${cpus} CPUs, ${disk_gb} GB free disk"
(( mem_mb >= 4000 )) || warn "less than 4 GB of memory: Airflow may restart in a loop (8 GB recommended)"
(( cpus >= 2 )) || warn "fewer than 2 CPUs"
(( disk_gb >= 10 )) || warn "less than 10 GB of free disk"

if ! reason=$(airflow db check 2>&1); then
	tail -n 3 <<<"$reason" >&2 # Airflow's own reason, without the traceback
	echo "ERROR: cannot connect to the Airflow metadata database (check the AIRFLOW_DB_* settings)" >&2
	exit 1
fi

if [[ ${_AIRFLOW_DB_MIGRATE:-true} == true ]]; then
	airflow db migrate
fi

if [[ ${_AIRFLOW_WWW_USER_CREATE:-true} == true ]]; then
	user=${_AIRFLOW_WWW_USER_USERNAME:?}
	existing=$(airflow users list --output json 2>/dev/null | python3 -c '
import json, sys
text = sys.stdin.read()
start, end = text.find("["), text.rfind("]")
users = json.loads(text[start:end + 1]) if start >= 0 else []
print("\n".join(u["username"] for u in users))')
	if grep -qxF -- "$user" <<<"$existing"; then
		echo "admin user '$user' already exists"
	else
		airflow users create --role Admin --username "$user" \
			--password "${_AIRFLOW_WWW_USER_PASSWORD:?}" \
			--firstname Airflow --lastname Admin --email "$user@example.com"
	fi
fi
echo "airflow-init: done"

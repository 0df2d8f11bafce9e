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

# Each airflow command costs seconds of Python start-up, so the happy path
# runs two: migrate, then create (which leaves an existing user untouched).
# `db check` runs only to explain a failed migration.
if [[ ${_AIRFLOW_DB_MIGRATE:-true} == true ]]; then
	if ! out=$(airflow db migrate 2>&1); then
		if ! reason=$(airflow db check 2>&1); then
			tail -n 3 <<<"$reason" >&2 # Airflow's own reason, without the traceback
			echo "ERROR: cannot connect to the Airflow metadata database (check the AIRFLOW_DB_* settings)" >&2
		else
			tail -n 20 <<<"$out" >&2
			echo "ERROR: airflow db migrate failed" >&2
		fi
		exit 1
	fi
	echo "airflow db migrate: done"
fi

if [[ ${_AIRFLOW_WWW_USER_CREATE:-true} == true ]]; then
	user=${_AIRFLOW_WWW_USER_USERNAME:?}
	if ! out=$(airflow users create --role Admin --username "$user" \
		--password "${_AIRFLOW_WWW_USER_PASSWORD:?}" \
		--firstname Airflow --lastname Admin --email "$user@example.com" 2>&1); then
		tail -n 20 <<<"$out" >&2
		echo "ERROR: creating the admin user '$user' failed" >&2
		exit 1
	fi
	if grep -q "already exists in the db" <<<"$out"; then
		echo "admin user '$user' already exists"
	else
		echo "admin user '$user' created"
	fi
fi
echo "airflow-init: done"

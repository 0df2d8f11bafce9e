#!/bin/sh
# dataplatform: upgrade copy
#
# Copies the project's metadata database into the upgrade test's throwaway
# PostgreSQL (the project's is only read):
#
#   upgrade-copy.sh HOST PORT COPY USER DB
#
# Both servers take the Airflow role's password (PGPASSWORD).
set -eu
host=$1 port=$2 copy=$3 user=$4 db=$5
until pg_isready -q -h "$copy" -p 5432 -U "$user"; do sleep 0.5; done
pg_dump -h "$host" -p "$port" -U "$user" -d "$db" --no-owner --no-privileges |
	psql -q -v ON_ERROR_STOP=1 -h "$copy" -p 5432 -U "$user" -d "$db" >/dev/null
echo "upgrade-copy: copied into $copy"

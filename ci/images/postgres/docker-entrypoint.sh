#!/bin/sh
# Entrypoint of the postgres stand-in image. It honours the documented contract
# of the official image: POSTGRES_USER / POSTGRES_PASSWORD (or *_FILE) /
# POSTGRES_DB, PGDATA, and /docker-entrypoint-initdb.d/ scripts run once on an
# empty data directory.
set -eu

# "docker run postgres -c x=y" means "postgres -c x=y".
case "${1:-}" in -*) set -- postgres "$@" ;; esac

file_env() { # file_env VAR: read VAR from VAR_FILE when that is set.
	eval "f=\${${1}_FILE:-}"
	if [ -n "$f" ]; then eval "export $1=\"\$(cat \"\$f\")\""; fi
}

if [ "${1:-}" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 00700 "$PGDATA"
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER
	: "${POSTGRES_USER:=postgres}"
	: "${POSTGRES_DB:=$POSTGRES_USER}"
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

	# A private server on the socket only, for the one-time setup.
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
	export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD"
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -v ON_ERROR_STOP=1 -d postgres -q -c "CREATE DATABASE \"$POSTGRES_DB\""
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		# shellcheck disable=SC1090 # the image's contract: a script is sourced when not executable
		case "$f" in
		*.sh) echo "running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
		*.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) echo "running $f"; gunzip -c "$f" | psql -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	unset PGPASSWORD
	echo "PostgreSQL init process complete; ready for start up."
fi

exec "$@"

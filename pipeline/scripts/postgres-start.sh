#!/bin/sh
# Starts PostgreSQL through the image's entrypoint. On a data directory that
# already exists it first gives the superuser, AIRFLOW_DB_USER and
# DBT_DB_USER the passwords of .env: roles keep the passwords they were
# created with, so without this a password changed in .env fails every
# connection ("password authentication failed") until the data is wiped.
#
# The change runs in single-user mode: no server, no network, so nothing can
# connect before the passwords are right. Passwords come from the
# environment (secrets) and go to PostgreSQL on stdin, never on a command
# line; errors are logged without their statement.
set -eu

literal() { # a SQL string literal
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}

if [ -s "$PGDATA/PG_VERSION" ]; then
	log=$(mktemp)
	as_postgres=""
	[ "$(id -u)" = 0 ] && as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
	{
		printf 'ALTER ROLE "%s" PASSWORD %s;\n\n' "$POSTGRES_USER" "$(literal "$POSTGRES_PASSWORD")"
		printf 'ALTER ROLE "%s" PASSWORD %s;\n\n' "$AIRFLOW_DB_USER" "$(literal "$AIRFLOW_DB_PASSWORD")"
		printf 'ALTER ROLE "%s" PASSWORD %s;\n\n' "$DBT_DB_USER" "$(literal "$DBT_DB_PASSWORD")"
	} | $as_postgres postgres --single -j -D "$PGDATA" \
		-c log_min_error_statement=panic -c log_statement=none -c log_line_prefix= postgres >"$log" 2>&1 || failed=1
	if [ -n "${failed:-}" ] || grep -q -E '^(ERROR|FATAL|PANIC):' "$log"; then
		grep -E '^(ERROR|FATAL|PANIC|HINT|DETAIL):' "$log" >&2 || tail -n 5 "$log" >&2
		rm -f "$log"
		echo "postgres: could not give the roles of .env (POSTGRES_USER=$POSTGRES_USER, AIRFLOW_DB_USER=$AIRFLOW_DB_USER, DBT_DB_USER=$DBT_DB_USER) their passwords." >&2
		echo "postgres: a user renamed in .env after the first start needs ALTER ROLE old RENAME TO new (psql as the superuser), or \`dagger call wipe\` for a fresh start." >&2
		exit 1
	fi
	rm -f "$log"
	echo "postgres: the passwords of $POSTGRES_USER, $AIRFLOW_DB_USER and $DBT_DB_USER are those of .env"
fi
exec docker-entrypoint.sh postgres

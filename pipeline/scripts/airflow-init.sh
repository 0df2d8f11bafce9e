#!/usr/bin/env bash
# airflow-init: migrate the metadata database, create the admin user if it is
# missing (or give it the password of .env), and warn when the machine is below the spec's minimum resources.
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

# Migrate, then create the admin user if it is missing, in one Python
# interpreter: each airflow command costs seconds of start-up. Airflow's own
# output goes to a file; when a step fails, its last lines are left in
# $failure. Exit codes: 3 the migration failed, 4 the user step failed.
failure=/tmp/airflow-init-failure.log
set +e
FAILURE=$failure python3 - <<'PY'
import argparse
import contextlib
import functools
import os
import sys
import tempfile

LOG = tempfile.mkstemp(prefix="airflow-init-")[1]


@contextlib.contextmanager
def into_log():
    """Send everything written to stdout and stderr (fds 1 and 2) to LOG."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(LOG, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)


def airflow(exit_code, parser, *argv):
    """Run `airflow ARGV` in this process, its arguments read by parser; on
    failure leave the tail of its output in $FAILURE and exit with
    exit_code. Returns its output."""
    with open(LOG, "w"):
        pass
    args = parser.parse_args(list(argv))
    failure = None
    try:
        with into_log():
            args.func(args)
    except SystemExit as e:
        if e.code not in (None, 0):
            failure = f"exit {e.code}"
    except Exception as e:  # noqa: BLE001  (any error fails init, loudly)
        failure = repr(e)
    with open(LOG) as log:
        out = log.read()
    if failure:
        with open(os.environ["FAILURE"], "w") as f:
            f.write("".join(out.splitlines(keepends=True)[-20:]))
            f.write(f"airflow {argv[0]} {argv[1]}: {failure}\n")
        sys.exit(exit_code)
    return out


def db_migrate_parser():
    """`airflow db migrate`'s own arguments and function, from Airflow's
    command table: the whole CLI's parser imports every provider's
    commands, half a second of the start's critical path."""
    with into_log():  # imports print warnings
        from airflow.cli import cli_config

    migrate = next(c for c in cli_config.DB_COMMANDS if c.name == "migrate")
    parser = argparse.ArgumentParser(prog="airflow")
    parser.add_argument("group")
    parser.add_argument("command")
    for arg in migrate.args:
        arg.add_to_parser(parser)
    parser.set_defaults(func=migrate.func)
    return parser


@functools.cache
def full_parser():
    """The whole CLI's parser (for the FAB provider's users commands)."""
    with into_log():  # imports print warnings
        from airflow.cli import cli_parser

        return cli_parser.get_parser()


with into_log():  # imports print warnings
    from airflow import configuration  # noqa: F401  (first, as airflow's own entry point does)
    from airflow import __version__ as airflow_version
    from airflow.configuration import write_default_airflow_configuration_if_needed

    write_default_airflow_configuration_if_needed()
print(f"airflow-init: Airflow {airflow_version}", flush=True)  # the image's, whatever the requirements
if os.environ.get("_AIRFLOW_DB_MIGRATE", "true") == "true":
    airflow(3, db_migrate_parser(), "db", "migrate")
    print("airflow db migrate: done", flush=True)


def admin_has_password(user, password):
    """Whether the admin user exists with this password, read from its row:
    one hash, where the CLI's reset costs FAB's start-up, a hash and an
    update at every start. False when unsure (no such table yet, another
    password): the CLI decides."""
    try:
        from sqlalchemy import text
        from werkzeug.security import check_password_hash

        from airflow import settings

        with settings.engine.connect() as conn:
            rows = conn.execute(text("SELECT password FROM ab_user WHERE lower(username) = lower(:u)"), {"u": user}).all()
        return len(rows) == 1 and bool(rows[0][0]) and check_password_hash(rows[0][0], password)
    except Exception:  # noqa: BLE001
        return False


if os.environ.get("_AIRFLOW_WWW_USER_CREATE", "true") == "true":
    user, password = os.environ["_AIRFLOW_WWW_USER_USERNAME"], os.environ["_AIRFLOW_WWW_USER_PASSWORD"]
    state = "already exists; its password is that of .env"
    if not admin_has_password(user, password):
        out = airflow(4, full_parser(), "users", "create", "--role", "Admin", "--username", user,
                      # one word, so a password starting with "-" is not read as an option
                      "--password=" + password,
                      "--firstname", "Airflow", "--lastname", "Admin", "--email", f"{user}@example.com")
        if "already exists in the db" in out:
            # The password of .env wins, as for the database roles: a changed
            # AIRFLOW_WWW_PASSWORD takes effect on the next start.
            airflow(4, full_parser(), "users", "reset-password", "--username", user, "--password=" + password)
        else:
            state = "created"
    print(f"admin user '{user}' {state}", flush=True)
# Python's own exit would run Airflow's exit handlers, a second here: each
# command's work is committed and its output written.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
PY
rc=$?
set -e
case $rc in
0) ;;
3)
	# `db check` runs only to explain a failed migration.
	if ! reason=$(airflow db check 2>&1); then
		tail -n 3 <<<"$reason" >&2 # Airflow's own reason, without the traceback
		echo "ERROR: cannot connect to the Airflow metadata database (check the AIRFLOW_DB_* settings)" >&2
	else
		cat "$failure" >&2
		echo "ERROR: airflow db migrate failed" >&2
	fi
	exit 1
	;;
4)
	cat "$failure" >&2
	echo "ERROR: creating the admin user '${_AIRFLOW_WWW_USER_USERNAME:-}' failed" >&2
	exit 1
	;;
*)
	echo "ERROR: airflow-init failed (exit code $rc)" >&2
	exit 1
	;;
esac
echo "airflow-init: done"

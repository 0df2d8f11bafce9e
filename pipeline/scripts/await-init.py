"""dataplatform: await init

Runs an airflow command once the metadata database is migrated, in one
Python process, so that an Airflow service (the api-server, the longest to
boot) boots while airflow-init runs instead of after it, as the official
Helm chart's services do with a `db check-migrations` of their own:

    python3 await-init.py [--admin USER] -- airflow SUBCOMMAND [ARG...]

Airflow's imports, the slow part of its start, come first; then it waits
until the database's migrations are those of this Airflow, the check the
command itself would make (met at once on a stack started before; on a new
one, once init has migrated it); with --admin, also until init has made the
admin USER: the api-server syncs FAB's roles when it starts, and init's
user step does too, which two processes must not do at once on an empty
database. Then the command runs as `airflow` itself would run it, without
checking the migrations a second time.
"""

import os
import sys
import time

# Waits are for init, on the same stack: a failed init ends the whole
# stack, so an hour only bounds a wait nothing will end.
TIMEOUT = 3600


def main():
    argv = sys.argv[1:]
    admin = None
    if argv[:1] == ["--admin"]:
        admin, argv = argv[1], argv[2:]
    if argv[:2] != ["--", "airflow"]:
        sys.exit("usage: await-init.py [--admin USER] -- airflow SUBCOMMAND [ARG...]")

    from airflow import configuration  # noqa: F401  (first, as airflow's own entry point does)
    from airflow.__main__ import main as airflow_main
    from airflow.utils import db

    wait_for_migration(db)
    if admin:
        wait_for_user(admin)
    os.environ["AIRFLOW__DATABASE__CHECK_MIGRATIONS"] = "False"  # just checked
    sys.argv = ["airflow", *argv[2:]]
    airflow_main()


def wait_for_migration(db):
    """Until the database's migrations are this Airflow's own: the check
    the airflow command itself makes (and would fail on), repeated."""
    environment = getattr(db, "_configured_alembic_environment", None)
    if environment is None:  # another Airflow: its own wait, slower
        db.check_migrations(timeout=TIMEOUT)
        return
    deadline = time.monotonic() + TIMEOUT
    with environment() as env:
        heads, context = set(env.script.get_heads()), env.get_context()
        while set(context.get_current_heads()) != heads:
            if time.monotonic() > deadline:
                sys.exit(f"await-init: the database is not migrated after {TIMEOUT} s: did airflow-init fail?")
            time.sleep(0.5)


def wait_for_user(user):
    """Until init has made the admin (FAB's tables come after Airflow's
    own migrations: until then, no table is no user)."""
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    from airflow import settings

    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with settings.engine.connect() as conn:
                found = conn.execute(text("SELECT 1 FROM ab_user WHERE lower(username) = lower(:u)"), {"u": user}).first()
        except ProgrammingError:
            found = None
        if found:
            return
        if time.monotonic() > deadline:
            sys.exit(f"await-init: no admin user '{user}' after {TIMEOUT} s: did airflow-init fail?")
        time.sleep(0.5)


if __name__ == "__main__":
    main()

"""dataplatform: upgrade migrate

Runs `airflow db migrate` (the upgrade test's Airflow, on the copy of the
metadata database), timed, and writes what came of it to OUT/migrate.json:
its exit status, seconds, last lines, and the copy's Alembic revision
before it (the project's, copied) and after it. Always ends 0: the report says.

    python3 upgrade-migrate.py OUT
"""

import json
import os
import subprocess
import sys
import time


def revision():
    from sqlalchemy import create_engine, text

    from airflow import settings

    try:
        with create_engine(settings.SQL_ALCHEMY_CONN).connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar())
    except Exception as e:  # the report says what the copy holds
        return f"unknown ({e.__class__.__name__})"


def main():
    out = sys.argv[1]
    before = revision()
    start = time.monotonic()
    run = subprocess.run(["airflow", "db", "migrate"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - start
    result = {"exit": run.returncode, "seconds": round(seconds, 1), "before": before, "revision": revision(),
              "output": "\n".join(run.stdout.rstrip().splitlines()[-30:])}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "migrate.json"), "w") as f:
        json.dump(result, f)
    print(f"upgrade-migrate: exit {run.returncode} after {seconds:.1f} s, revision {before} -> {result['revision']}")


if __name__ == "__main__":
    main()

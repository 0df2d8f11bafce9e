"""dataplatform: parse now

Says what Airflow makes of the DAG files a sync changed (the list
sync-folders.sh wrote: "changed dags/PATH" or "deleted dags/PATH" lines),
and fails naming each file that does not import:

    python3 parse-now.py LIST DAGS_DIR

Beside a running stack (DATAPLATFORM_STACK_DB=1), its dag-processor is
asked to parse them now, as Airflow's REST API does (PUT parseDagFile: a
row of dag_priority_parsing_request, which also makes it look for new
files), and its own verdict is read from the metadata database once it
has parsed them: the file's DAGs, or its import error. Without a stack,
the changed files alone are imported here, as the dag-processor would.
(`dagger call dag-check` checks every DAG file.)
"""

import datetime
import hashlib
import os
import sys
import time

BUNDLE = "dags-folder"  # Airflow's bundle of the dags folder
WAIT = 60
# A parse that began less than this after the copy may have read a file as
# it was before (its start is its end less its duration, a few ms late).
MARGIN = datetime.timedelta(seconds=0.25)


def changed_dag_files(list_file):
    """The .py files of dags/ changed and deleted, and whether any file was."""
    changed, deleted, synced = [], [], False
    with open(list_file) as f:
        for line in f:
            what, _, path = line.strip().partition(" ")
            synced = synced or bool(path)
            if not path.startswith("dags/"):
                continue
            rel = path[len("dags/"):]
            print(f"{what:8} {path}", flush=True)
            if rel.endswith(".py"):
                (changed if what == "changed" else deleted).append(rel)
    return changed, deleted, synced


def skipped(path):
    """Airflow's safe mode (on by default) parses only a file that mentions
    "airflow" and "dag" or "asset" (its default heuristic)."""
    if os.environ.get("AIRFLOW__CORE__DAG_DISCOVERY_SAFE_MODE", "true").lower() in ("false", "0"):
        return False
    with open(path, "rb") as f:
        content = f.read().lower()
    return b"airflow" not in content or not (b"dag" in content or b"asset" in content)


def request(cur, rel):
    """Ask the dag-processor to parse rel now (PUT parseDagFile's row)."""
    rid = hashlib.md5(f"{BUNDLE}:{rel}".encode()).hexdigest()
    cur.execute(
        "INSERT INTO dag_priority_parsing_request (id, bundle_name, relative_fileloc) "
        "VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (rid, BUNDLE, rel),
    )


def ask_the_stack(changed, deleted):
    """Ask the running stack's dag-processor, return the failures."""
    import psycopg2

    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "", 1)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT now()")
    (asked,) = cur.fetchone()
    for rel in changed + deleted[:1]:  # a deleted file: one request makes it look again
        request(cur, rel)
    failures, left = [], list(changed)
    deadline = time.monotonic() + WAIT
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        for rel in list(left):
            cur.execute(
                "SELECT stacktrace FROM import_error WHERE bundle_name = %s AND filename = %s AND timestamp >= %s",
                (BUNDLE, rel, asked),
            )
            row = cur.fetchone()
            if row:
                print(f"ERROR    dags/{rel}\n{row[0]}", flush=True)
                failures.append(rel)
                left.remove(rel)
                continue
            # A parse under way when the file changed read it as it was
            # (and hides the change from the dag-processor for minutes):
            # only one that began after the copy counts; else ask again.
            # (Airflow's copy of the source is no proof: it reads the file
            # again when it stores the result.)
            cur.execute(
                "SELECT dag_id, last_parsed_time - make_interval(secs => coalesce(last_parse_duration, 0)) > %s "
                "FROM dag WHERE bundle_name = %s AND relative_fileloc = %s "
                "AND last_parsed_time >= %s AND NOT is_stale ORDER BY dag_id",
                (asked + MARGIN, BUNDLE, rel, asked),
            )
            rows = cur.fetchall()
            if not rows:
                continue
            if not any(after for _, after in rows):
                request(cur, rel)
                continue
            dags = [dag_id for dag_id, _ in rows]
            print(f"ok       dags/{rel}: {', '.join(dags)}", flush=True)
            left.remove(rel)
    for rel in left:
        print(f"waiting  dags/{rel}: not parsed within {WAIT} s (no DAG in it?)", flush=True)
    return failures


def import_here(dags_dir, changed):
    """Import the changed files here, as the dag-processor would."""
    from airflow.models.dagbag import DagBag

    failures = []
    for rel in changed:
        bag = DagBag(dag_folder=os.path.join(dags_dir, rel), include_examples=False)
        for path, error in bag.import_errors.items():
            print(f"ERROR    dags/{rel}\n{error}", flush=True)
            failures.append(rel)
        if not bag.import_errors:
            print(f"ok       dags/{rel}: {', '.join(sorted(bag.dag_ids)) or 'no DAG'}", flush=True)
    return failures


def main():
    list_file, dags_dir = sys.argv[1], sys.argv[2]
    changed, deleted, synced = changed_dag_files(list_file)
    for rel in [r for r in changed if skipped(os.path.join(dags_dir, r))]:
        print(f"ok       dags/{rel}: no DAG (Airflow parses only files that mention airflow and dag)", flush=True)
        changed.remove(rel)
    if not changed and not deleted:
        if synced:
            print("sync: the stack has the project's files; no DAG file to parse", flush=True)
        else:
            print("sync: the stack's dags/ and plugins/ were already the project's", flush=True)
        return 0
    if os.environ.get("DATAPLATFORM_STACK_DB") == "1":
        failures = ask_the_stack(changed, deleted)
    else:
        failures = import_here(dags_dir, changed)
    if failures:
        print(f"{len(failures)} DAG file(s) failed to import", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

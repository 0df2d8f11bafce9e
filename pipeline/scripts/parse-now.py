"""dataplatform: parse now

Says what Airflow makes of the DAG files a sync changed (the list
sync-folders.sh wrote: "changed dags/PATH" or "deleted dags/PATH" lines),
and fails naming each file that does not import:

    python3 parse-now.py LIST DAGS_DIR STAMPS_DIR

Beside a running stack (DATAPLATFORM_STACK_DB=1), its dag-processor is
asked to parse them now, as Airflow's REST API does (PUT parseDagFile: a
row of dag_priority_parsing_request, which also makes it look for new
files), and its own verdict is read from the metadata database once it
has parsed the content synced: the dag-processor's stamp of the file
(STAMPS_DIR/PATH.json, see dataplatform_parse_stamps.py) names the bytes
it compiled, and only a result stored after that read counts: the file's
DAGs, or its import error. Without a stack, the changed files alone are
imported here, as the dag-processor would. (`dagger call dag-check`
checks every DAG file.)
"""

import datetime
import hashlib
import json
import os
import sys
import time

BUNDLE = "dags-folder"  # Airflow's bundle of the dags folder
WAIT = 60
ASK_AGAIN = 2  # seconds: a parse under way when the file changed read it as it was


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


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def stamped_read(stamps_dir, rel, want):
    """When the dag-processor read the file's content want (its SHA-256),
    as its stamp says; None while its last stamp is of other content."""
    try:
        with open(os.path.join(stamps_dir, rel + ".json")) as f:
            stamp = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    if stamp.get("sha256") != want:
        return None
    return datetime.datetime.fromtimestamp(stamp["at"], datetime.timezone.utc)


def ask_the_stack(dags_dir, stamps_dir, changed, deleted):
    """Ask the running stack's dag-processor, return the failures."""
    import psycopg2

    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "", 1)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    content = {rel: sha256(os.path.join(dags_dir, rel)) for rel in changed}
    for rel in changed + deleted[:1]:  # a deleted file: one request makes it look again
        request(cur, rel)
    failures, left = [], list(changed)
    deadline = time.monotonic() + WAIT
    asked = time.monotonic()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        unread = []
        for rel in list(left):
            read = stamped_read(stamps_dir, rel, content[rel])
            if read is None:
                unread.append(rel)
                continue
            cur.execute(
                "SELECT stacktrace FROM import_error WHERE bundle_name = %s AND filename = %s AND timestamp >= %s",
                (BUNDLE, rel, read),
            )
            row = cur.fetchone()
            if row:
                print(f"ERROR    dags/{rel}\n{row[0]}", flush=True)
                failures.append(rel)
                left.remove(rel)
                continue
            cur.execute(
                "SELECT dag_id FROM dag WHERE bundle_name = %s AND relative_fileloc = %s "
                "AND last_parsed_time >= %s AND NOT is_stale ORDER BY dag_id",
                (BUNDLE, rel, read),
            )
            dags = [dag_id for (dag_id,) in cur.fetchall()]
            if dags:
                print(f"ok       dags/{rel}: {', '.join(dags)}", flush=True)
                left.remove(rel)
        if unread and time.monotonic() - asked > ASK_AGAIN:
            for rel in unread:
                request(cur, rel)
            asked = time.monotonic()
    for rel in left:
        print(f"waiting  dags/{rel}: not parsed within {WAIT} s (no DAG in it?)", flush=True)
    return failures


def import_here(dags_dir, changed):
    """Import the changed files here, as the dag-processor would."""
    from airflow.models import DagBag

    failures = []
    for rel in changed:
        bag = DagBag(dag_folder=os.path.join(dags_dir, rel))
        for path, error in bag.import_errors.items():
            print(f"ERROR    dags/{rel}\n{error}", flush=True)
            failures.append(rel)
        if not bag.import_errors:
            print(f"ok       dags/{rel}: {', '.join(sorted(bag.dag_ids)) or 'no DAG'}", flush=True)
    return failures


def main():
    list_file, dags_dir, stamps_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    changed, deleted, synced = changed_dag_files(list_file)
    for rel in [r for r in changed if skipped(os.path.join(dags_dir, r))]:
        print(f"ok       dags/{rel}: no DAG (Airflow parses only files that mention airflow and dag)", flush=True)
        changed.remove(rel)
    if not changed and not deleted:
        if synced:
            print("sync: the stack has the project's files; no DAG file to parse", flush=True)
        else:
            print("sync: the stack's dags/, plugins/ and dbt/ were already the project's", flush=True)
        return 0
    if os.environ.get("DATAPLATFORM_STACK_DB") == "1":
        failures = ask_the_stack(dags_dir, stamps_dir, changed, deleted)
    else:
        failures = import_here(dags_dir, changed)
    if failures:
        print(f"{len(failures)} DAG file(s) failed to import", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

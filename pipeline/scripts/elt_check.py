"""End-to-end check of the example ELT, run next to a live stack: unpause and
trigger the example DAG through the REST API v2, wait for success (printing
the task logs otherwise), run `dbt build`, and compare the marts with the
rows the DAG loaded. Standard library and psycopg2 only (the dbt image has
both). Settings come from the environment; see the EltCheck function."""

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

API = os.environ["API_URL"].rstrip("/")
DAG = os.environ.get("DAG_ID", "elt_shop_orders")
TIMEOUT = int(os.environ.get("CHECK_TIMEOUT", "900"))


class ApiError(Exception):
    """The API refused a call: its method, path, status and answer."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def say_api_errors(kind, err, tb):
    """An ApiError ends the check with its own words, without a traceback."""
    if isinstance(err, ApiError):
        print(f"elt-check: {err}", file=sys.stderr)
    else:
        sys.__excepthook__(kind, err, tb)


sys.excepthook = say_api_errors


def call(method, path, body=None, token=None, retry_for=60):
    """One REST call; a dropped connection or a 5xx is tried again for
    retry_for seconds (a stack that has just started may drop one)."""
    deadline = time.time() + retry_for
    while True:
        req = urllib.request.Request(API + path, method=method, data=json.dumps(body).encode() if body else None)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            failure = ApiError(f"{method} {path}: HTTP {err.code}: {err.read().decode(errors='replace')[:500]}", err.code)
            if err.code < 500:
                raise failure from None
        except (urllib.error.URLError, OSError) as err:
            failure = ApiError(f"{method} {path}: {err}")
        if time.time() > deadline:
            raise failure
        print(f"{failure}; trying again", flush=True)
        time.sleep(2)


def wait(what, probe, timeout=TIMEOUT, every=5):
    start = time.time()
    last = None
    while time.time() - start < timeout:
        try:
            result = probe()
            if result:
                print(f"{what}: after {time.time() - start:.0f}s", flush=True)
                return result
        except (ApiError, KeyError, ValueError) as err:
            last = err
        time.sleep(every)
    sys.exit(f"{what}: not reached in {timeout}s (last error: {last})")


def healthy():
    health = call("GET", "/api/v2/monitor/health")
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return all(health[p]["status"] == "healthy" for p in parts)


wait("stack healthy", healthy)
token = call("POST", "/auth/token", {"username": os.environ["AIRFLOW_WWW_USER"],
                                     "password": os.environ["AIRFLOW_WWW_PASSWORD"]})["access_token"]
print(f"the stack runs Airflow {call('GET', '/api/v2/version', token=token)['version']}", flush=True)
base = f"/api/v2/dags/{DAG}"
wait(f"DAG {DAG} registered", lambda: call("GET", base, token=token)["dag_id"] == DAG)


def runs():
    return call("GET", f"{base}/dagRuns?limit=100", token=token)["dag_runs"]


# The project's data may hold runs of its own (a failed one too): the check
# judges only the runs it causes.
earlier = {r["dag_run_id"] for r in runs()}
call("PATCH", base, {"is_paused": False}, token)
# Unpausing schedules the latest interval (catchup is off): trigger an earlier day.
day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).strftime("%Y-%m-%dT00:00:00Z")
run_id = f"elt-check-{int(time.time())}"
try:
    call("POST", f"{base}/dagRuns", {"dag_run_id": run_id, "logical_date": day}, token)
except ApiError as err:
    # A POST tried again after a dropped answer finds its own run made.
    if err.status != 409:
        raise
    try:
        call("GET", f"{base}/dagRuns/{run_id}", token=token, retry_for=0)
    except ApiError:
        raise err from None


def finished():
    state = call("GET", f"{base}/dagRuns/{run_id}", token=token)["state"]
    return state if state in ("success", "failed") else None


state = wait(f"DAG run {run_id}", finished)
if state != "success":
    tis = call("GET", f"{base}/dagRuns/{run_id}/taskInstances", token=token)["task_instances"]
    for ti in tis:
        print(f"--- task {ti['task_id']}: {ti['state']}")
        try:
            logs = call("GET", f"{base}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{max(ti['try_number'], 1)}",
                        token=token)
            print(json.dumps(logs, indent=1)[-4000:])
        except urllib.error.URLError as err:
            print(f"(no log: {err})")
    sys.exit(f"DAG run {run_id} ended {state}")


def quiet():
    mine = [r for r in runs() if r["dag_run_id"] not in earlier]
    if any(r["state"] == "failed" for r in mine):
        sys.exit("a scheduled run of the DAG failed")
    return all(r["state"] == "success" for r in mine)


wait("every DAG run finished", quiet)

print("dbt build:", flush=True)
subprocess.run(["dbt", "build"], check=True)

import psycopg2  # noqa: E402  (shipped with dbt-postgres)

conn = psycopg2.connect(host=os.environ["DBT_DB_HOST"], port=os.environ["DBT_DB_PORT"],
                        user=os.environ["DBT_DB_USER"], password=os.environ["DBT_DB_PASSWORD"],
                        dbname=os.environ["DBT_DB_NAME"])
with conn, conn.cursor() as cur:
    def one(sql):
        cur.execute(sql)
        return cur.fetchone()[0]

    raw = one("SELECT count(*) FROM raw.orders")
    kept = one("SELECT count(*) FROM raw.orders WHERE status <> 'returned'")
    checks = {
        "orders in marts.daily_revenue": (one("SELECT sum(orders) FROM marts.daily_revenue"), raw),
        "non-returned orders in marts.customer_revenue": (one("SELECT sum(orders) FROM marts.customer_revenue"), kept),
        "customers in marts.customer_revenue": (one("SELECT count(*) FROM marts.customer_revenue"), 20),
    }
failed = False
for name, (got, want) in checks.items():
    ok = got == want
    failed |= not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {got} (expected {want})")
if failed:
    sys.exit("the marts do not match the loaded data")
print(f"ELT check passed: DAG run {run_id} success, dbt build passed, {raw} raw orders in the marts")

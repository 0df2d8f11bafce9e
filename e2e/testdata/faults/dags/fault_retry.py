"""A task that can be made to hang on its first try, for the fault tests.

Triggered with conf {"hold": true}, the first try runs a child process that
sleeps for ten minutes and carries the run id in its command line, so the
test can find, from the host, the Celery worker running it and kill that
worker. The retry (or any run without "hold") finishes at once.
"""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="fault_retry",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["e2e"],
    doc_md=__doc__,
)
def fault_retry():
    @task(retries=1, retry_delay=timedelta(seconds=2))
    def hold(ti=None, dag_run=None) -> int:
        if ti.try_number == 1 and (dag_run.conf or {}).get("hold"):
            # Not the last command of the script, so sh stays (with the
            # marker in its command line) instead of exec'ing sleep.
            subprocess.run(["sh", "-c", f"sleep 600; : fault-test {dag_run.run_id}"], check=True)
        return ti.try_number

    hold()


fault_retry()

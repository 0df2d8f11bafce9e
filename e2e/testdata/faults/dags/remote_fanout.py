"""Twenty tasks that each take a few seconds, for the remote-worker test.

Spread over the stack's workers and a worker node's, each task prints the
host it ran on (its worker's reported hostname), so the test can read it
back from the task's log through the stack's REST API. Each retries, so a
task lost with a killed worker node runs again on the stack.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

TASKS = 20


@dag(
    dag_id="remote_fanout",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=TASKS,
    tags=["e2e"],
    doc_md=__doc__,
)
def remote_fanout():
    @task(retries=3, retry_delay=timedelta(seconds=2))
    def work(n: int, ti=None) -> int:
        print(f"remote-fanout task {n} try {ti.try_number} on {ti.hostname}")
        time.sleep(15)
        return n

    work.expand(n=list(range(TASKS)))


remote_fanout()

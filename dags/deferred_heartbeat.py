"""Wait without holding a worker slot, then record that the wait is over.

The sensor defers itself: while it waits, the triggerer (not a Celery
worker) holds it, which is what this DAG shows. Run it by hand from the UI or
the REST API; it has no schedule.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import dag, task

WAIT = timedelta(seconds=20)


@dag(
    dag_id="deferred_heartbeat",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"owner": "data-team", "retries": 1, "retry_delay": timedelta(seconds=10)},
    tags=["example", "deferrable"],
    doc_md=__doc__,
)
def deferred_heartbeat():
    wait = TimeDeltaSensor(task_id="wait", delta=WAIT, deferrable=True)

    @task
    def report(dag_run=None) -> str:
        """Say how long the run has taken so far (at least WAIT)."""
        elapsed = pendulum.now("UTC") - dag_run.start_date
        return f"waited {elapsed.total_seconds():.0f}s without a worker slot"

    wait >> report()


deferred_heartbeat()

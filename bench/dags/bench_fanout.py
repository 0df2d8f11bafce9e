"""50 short tasks, for the throughput benchmark (bench/): how many tasks per
minute the Celery workers finish. No schedule; triggered by the benchmark."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

TASKS = 50


@dag(
    dag_id="bench_fanout",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_tasks=TASKS,
    tags=["bench"],
    doc_md=__doc__,
)
def bench_fanout():
    @task
    def noop(i: int) -> int:
        """Return its input: the cost measured is Airflow's, not the task's."""
        return i

    noop.expand(i=list(range(TASKS)))


bench_fanout()

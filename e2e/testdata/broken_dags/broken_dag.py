"""A DAG file that cannot be imported: the DAG import check must name it."""

from airflow.sdk import dag
from airflow.providers.does_not_exist import NothingHere  # noqa: F401


@dag(schedule=None)
def broken():
    pass


broken()

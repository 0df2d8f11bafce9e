"""Extract a day of shop orders, load them into the analytics database's raw
schema, then let dbt transform them (see dbt/): each seed, model and test of
the dbt project is a task, rendered by Cosmos.

The dataset is generated deterministically from the run's logical date, so
the example needs no internet and every run of a given day loads the same
rows. The target database is the Airflow connection ``analytics``, defined
by configuration (AIRFLOW_CONN_ANALYTICS, a secret set by the Dagger module):
no credentials live in this file. The Airflow variable ``analytics_conn_id``
(e.g. AIRFLOW_VAR_ANALYTICS_CONN_ID in .env) names another connection for
the load.

dbt runs from its own virtual environment in the project's image (see
Dockerfile), on the project's dbt/ folder as the stack has it (the module
keeps it live at DBT_PROJECT_DIR, with its packages installed and its
manifest parsed), as the same least-privilege role as `dagger call dbt`
(the connection ``analytics``), in the schema DBT_SCHEMA says.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import dag, task
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import DbtResourceType, InvocationMode, LoadMode, TestBehavior
from cosmos.operators.local import DbtTestLocalOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

RAW_SCHEMA = "raw"
CONN_ID = "analytics"
ORDERS_PER_DAY = 40
CUSTOMERS = 20  # matches dbt/seeds/customers.csv
PRODUCTS = {"widget": 1250, "gadget": 4999, "gizmo": 799, "doohickey": 2500}

def orders_for_day(ds: str) -> list[dict]:
    """ORDERS_PER_DAY orders of the day ds (YYYY-MM-DD), generated from a
    generator seeded by the date: the same rows on every run of the day."""
    rng = random.Random(ds)
    names = sorted(PRODUCTS)
    orders = []
    for n in range(ORDERS_PER_DAY):
        product = rng.choice(names)
        quantity = rng.randint(1, 5)
        orders.append(
            {
                "order_id": f"{ds}-{n:04d}",
                "customer_id": rng.randint(1, CUSTOMERS),
                "product": product,
                "quantity": quantity,
                "amount_cents": PRODUCTS[product] * quantity,
                "status": rng.choice(["placed", "shipped", "shipped", "delivered", "returned"]),
                "ordered_at": f"{ds}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
                "order_date": ds,
            }
        )
    return orders


DBT_PROJECT = Path(os.environ.get("DBT_PROJECT_DIR", "/usr/app/dbt"))
DBT = "/opt/airflow/dbt_venv/bin/dbt"
DBT_PROFILE = ProfileConfig(
    profile_name="dataplatform",
    target_name="dev",
    profile_mapping=PostgresUserPasswordProfileMapping(
        conn_id=CONN_ID, profile_args={"schema": os.environ.get("DBT_SCHEMA", "public")}
    ),
)


def dbt_tasks(group_id: str) -> DbtTaskGroup:
    """The dbt project as tasks: each seed and model a task, in dbt's
    order, and each test a task of its own after what it tests (named after
    the test, so a failing test names itself). Rendered from the manifest
    the stack keeps parsed, or, where there is none (a DAG check), by
    `dbt ls`."""
    manifest = DBT_PROJECT / "target" / "manifest.json"
    # The stack's dbt folder has its packages installed and its manifest
    # parsed; elsewhere (a DAG check) `dbt ls` needs the packages first.
    in_stack = manifest.exists()
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(DBT_PROJECT, manifest_path=manifest if in_stack else None),
        profile_config=DBT_PROFILE,
        execution_config=ExecutionConfig(dbt_executable_path=DBT, invocation_mode=InvocationMode.SUBPROCESS),
        render_config=RenderConfig(load_method=LoadMode.AUTOMATIC, test_behavior=TestBehavior.NONE),
        operator_args={"install_deps": not in_stack},
    )
    for node in group.dbt_graph.filtered_nodes.values():
        if node.resource_type != DbtResourceType.TEST:
            continue
        name = node.resource_name.split(".")[0]  # without dbt's hash suffix
        test = DbtTestLocalOperator(
            task_id=f"{name}_test",
            task_group=group,
            project_dir=DBT_PROJECT,
            profile_config=DBT_PROFILE,
            dbt_executable_path=DBT,
            invocation_mode=InvocationMode.SUBPROCESS,
            select=name,
            install_deps=not in_stack,
            retries=0,  # a failing test fails for good: no try again
        )
        for parent in node.depends_on:
            if parent in group.tasks_map:
                group.tasks_map[parent] >> test
    return group


@dag(
    dag_id="elt_shop_orders",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data-team", "retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["example", "elt"],
    doc_md=__doc__,
)
def elt_shop_orders():
    @task
    def extract(logical_date=None, dag_run=None) -> list[dict]:
        """The day's orders. The day is the run's logical date, or when it
        has none (Airflow 3 allows manual runs without one) the day the run
        was asked for."""
        return orders_for_day((logical_date or dag_run.run_after).strftime("%Y-%m-%d"))

    @task
    def load(orders: list[dict]) -> int:
        """Replace the day's rows in raw.orders (idempotent: a rerun of the
        same day leaves the same rows) and record when they were loaded."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from airflow.sdk import Variable

        conn_id = Variable.get("analytics_conn_id", default=CONN_ID)
        print(f"loading into the Airflow connection {conn_id!r}")
        hook = PostgresHook(postgres_conn_id=conn_id)
        with hook.get_conn() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
            cur.execute(
                f"""CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.orders (
                    order_id text PRIMARY KEY,
                    customer_id integer NOT NULL,
                    product text NOT NULL,
                    quantity integer NOT NULL,
                    amount_cents integer NOT NULL,
                    status text NOT NULL,
                    ordered_at timestamptz NOT NULL,
                    order_date date NOT NULL,
                    loaded_at timestamptz NOT NULL DEFAULT now())"""
            )
            days = sorted({o["order_date"] for o in orders})
            cur.execute(f"DELETE FROM {RAW_SCHEMA}.orders WHERE order_date = ANY(%s::date[])", (days,))
            cur.executemany(
                f"""INSERT INTO {RAW_SCHEMA}.orders
                    (order_id, customer_id, product, quantity, amount_cents, status, ordered_at, order_date)
                    VALUES (%(order_id)s, %(customer_id)s, %(product)s, %(quantity)s,
                            %(amount_cents)s, %(status)s, %(ordered_at)s, %(order_date)s)""",
                orders,
            )
            conn.commit()
        return len(orders)

    load(extract()) >> dbt_tasks("dbt")


elt_shop_orders()

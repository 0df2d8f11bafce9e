"""Extract a day of shop orders, load them into the analytics database's raw
schema, for dbt to transform (see dbt/models).

The dataset is generated deterministically from the run's logical date, so
the example needs no internet and every run of a given day loads the same
rows. The target database is the Airflow connection ``analytics``, defined
by configuration (AIRFLOW_CONN_ANALYTICS, a secret set by the Dagger module):
no credentials live in this file. The Airflow variable ``analytics_conn_id``
(e.g. AIRFLOW_VAR_ANALYTICS_CONN_ID in .env) names another connection.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

RAW_SCHEMA = "raw"
CONN_ID = "analytics"
ORDERS_PER_DAY = 40
CUSTOMERS = 20  # matches dbt/seeds/customers.csv
PRODUCTS = {"widget": 1250, "gadget": 4999, "gizmo": 799, "doohickey": 2500}


@dag(
    dag_id="elt_shop_orders",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    tags=["example", "elt"],
    doc_md=__doc__,
)
def elt_shop_orders():
    @task
    def extract(logical_date=None, dag_run=None) -> list[dict]:
        """Generate the day's orders: ORDERS_PER_DAY rows, seeded by the date.
        The day is the run's logical date, or when it has none (Airflow 3
        allows manual runs without one) the day the run was asked for."""
        ds = (logical_date or dag_run.run_after).strftime("%Y-%m-%d")
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

    load(extract())


elt_shop_orders()

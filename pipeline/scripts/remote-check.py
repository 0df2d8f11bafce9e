"""dataplatform: remote check

Run on a worker node before its workers start: checks that the stack's
Valkey, PostgreSQL and api-server answer at the stack's address and take
this node's passwords, and fails naming the variable to fix otherwise (a
Celery worker with a wrong broker password retries for most of an hour
and exits 0):

    python3 remote-check.py

The broker and database URLs come from Airflow's own variables
(AIRFLOW__CELERY__BROKER_URL, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN), the
api-server's base URL from DATAPLATFORM_STACK_API.
"""

import os
import sys
import urllib.request
from urllib.parse import unquote, urlsplit

import redis
import sqlalchemy

TIMEOUT = 10


def where(url):
    u = urlsplit(url)
    return f"{u.hostname}:{u.port}"


def check_broker(url):
    try:
        redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT).ping()
    except redis.exceptions.AuthenticationError as e:
        return f"VALKEY_PASSWORD: the stack's Valkey at {where(url)} refused the password ({e})"
    except redis.exceptions.ResponseError as e:
        if "NOAUTH" in str(e) or "WRONGPASS" in str(e):
            return f"VALKEY_PASSWORD: the stack's Valkey at {where(url)} refused the password ({e})"
        return f"VALKEY_PORT: the server at {where(url)} is not the stack's Valkey ({e})"
    except redis.exceptions.RedisError as e:
        return (f"VALKEY_PORT: no Valkey answers at {where(url)} ({e}); "
                "the stack must run with `up --remote-workers`")
    return None


def check_database(url):
    try:
        with sqlalchemy.create_engine(url, connect_args={"connect_timeout": TIMEOUT}).connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
    except sqlalchemy.exc.OperationalError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        if "password authentication failed" in reason:
            return (f"AIRFLOW_DB_PASSWORD: the stack's PostgreSQL at {where(url)} refused the password of "
                    f"role {unquote(urlsplit(url).username)} ({reason})")
        return f"POSTGRES_PORT: no PostgreSQL of the stack answers at {where(url)} ({reason})"
    return None


def check_api(base):
    try:
        with urllib.request.urlopen(base + "/api/v2/monitor/health", timeout=TIMEOUT) as r:
            r.read()
    except OSError as e:
        return f"AIRFLOW_API_PORT: the stack's api-server does not answer at {base} ({e})"
    return None


def main():
    problems = [p for p in (
        check_broker(os.environ["AIRFLOW__CELERY__BROKER_URL"]),
        check_database(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
        check_api(os.environ["DATAPLATFORM_STACK_API"]),
    ) if p]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print("the stack answers and takes this node's passwords")


if __name__ == "__main__":
    main()

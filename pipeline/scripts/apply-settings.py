"""dataplatform: apply settings

Creates or updates the project's Airflow connections, variables and pools
(its airflow_settings.yaml, read by the module and given here as JSON, with
the values of .env it names) in the metadata database; deletes those marked
`delete: true`; leaves every other one alone. Says what it did to each, by
its name, never a value:

    python3 apply-settings.py FILE

    python3 apply-settings.py --types

lists the connection types this image knows (its providers'), one a line.
"""

import json
import sys


def known_types():
    from airflow.providers_manager import ProvidersManager

    return sorted(ProvidersManager().hooks.keys())


def connection(entry):
    from airflow.models import Connection

    if entry.get("conn_uri") and not any(entry.get(k) for k in ("conn_type", "conn_host", "conn_login", "conn_password", "conn_schema", "conn_port")):
        return Connection(conn_id=entry["conn_id"], uri=entry["conn_uri"])
    extra = entry.get("conn_extra")
    return Connection(
        conn_id=entry["conn_id"],
        conn_type=entry.get("conn_type"),
        host=entry.get("conn_host"),
        schema=entry.get("conn_schema"),
        login=entry.get("conn_login"),
        password=entry.get("conn_password"),
        port=entry.get("conn_port"),
        extra=json.dumps(extra) if isinstance(extra, dict) else extra,
    )


def apply(settings):
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session

    a = settings.get("airflow") or {}
    with create_session() as session:
        for entry in a.get("pools") or []:
            name = entry["pool_name"]
            if entry.get("delete"):
                if session.query(Pool).filter(Pool.pool == name).one_or_none():
                    Pool.delete_pool(name, session=session)
                    print(f"settings: pool {name} deleted", flush=True)
                continue
            existed = session.query(Pool).filter(Pool.pool == name).one_or_none() is not None
            Pool.create_or_update_pool(name, entry["pool_slot"], entry.get("pool_description") or "",
                                       include_deferred=False, session=session)
            print(f"settings: pool {name} {'updated' if existed else 'created'}", flush=True)
        for entry in a.get("variables") or []:
            name = entry["variable_name"]
            existed = session.query(Variable).filter(Variable.key == name).one_or_none() is not None
            if entry.get("delete"):
                if existed:
                    Variable.delete(name, session=session)
                    print(f"settings: variable {name} deleted", flush=True)
                continue
            value = entry.get("variable_value")
            structured = isinstance(value, (dict, list))
            Variable.set(name, value if structured or isinstance(value, str) else json.dumps(value),
                         serialize_json=structured, session=session)
            print(f"settings: variable {name} {'updated' if existed else 'created'}", flush=True)
        for entry in a.get("connections") or []:
            name = entry["conn_id"]
            old = session.query(Connection).filter(Connection.conn_id == name).one_or_none()
            if entry.get("delete"):
                if old is not None:
                    session.delete(old)
                    print(f"settings: connection {name} deleted", flush=True)
                continue
            new = connection(entry)
            if old is None:
                session.add(new)
            else:
                for field in ("conn_type", "host", "schema", "login", "port", "description"):
                    setattr(old, field, getattr(new, field))
                old.set_password(new.password)
                old.set_extra(new.extra)
            print(f"settings: connection {name} {'updated' if old is not None else 'created'}", flush=True)


def main():
    if sys.argv[1] == "--types":
        print("\n".join(known_types()))
        return
    with open(sys.argv[1]) as f:
        apply(json.load(f))


if __name__ == "__main__":
    main()

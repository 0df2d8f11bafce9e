"""dataplatform: export settings

Writes the metadata database's connections, variables and pools as an
airflow_settings.yaml (Astro CLI's format) to FILE. Passwords and the
values of sensitive variables (names Airflow masks, e.g. *_password,
*_secret, *_token) are left out unless --include-secrets:

    python3 export-settings.py FILE [--include-secrets]
"""

import json
import os
import sys

SENSITIVE = ("access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
             "private_key", "secret", "token", "keyfile_dict", "service_account")


def sensitive(name):
    try:
        from airflow._shared.secrets_masker import _secrets_masker

        return _secrets_masker().should_hide_value_for_key(name)
    except Exception:  # the masker moved: Airflow's default words
        return any(word in name.lower() for word in SENSITIVE)


def main():
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session

    out, secrets = sys.argv[1], "--include-secrets" in sys.argv[2:]
    left_out = 0
    connections, pools, variables = [], [], []
    with create_session() as session:
        for c in session.query(Connection).order_by(Connection.conn_id):
            entry = {"conn_id": c.conn_id, "conn_type": c.conn_type}
            for key, value in (("conn_host", c.host), ("conn_schema", c.schema), ("conn_login", c.login), ("conn_port", c.port)):
                if value not in (None, ""):
                    entry[key] = value
            if c.password:
                if secrets:
                    entry["conn_password"] = c.password
                else:
                    left_out += 1
            if c.extra:
                try:
                    entry["conn_extra"] = json.loads(c.extra)
                except ValueError:
                    entry["conn_extra"] = c.extra
            connections.append(entry)
        for p in session.query(Pool).order_by(Pool.pool):
            pools.append({"pool_name": p.pool, "pool_slot": p.slots, "pool_description": p.description or ""})
        for v in session.query(Variable).order_by(Variable.key):
            if sensitive(v.key) and not secrets:
                left_out += 1
                continue
            variables.append({"variable_name": v.key, "variable_value": v.val})
    doc = {"airflow": {"connections": connections, "pools": pools, "variables": variables}}
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("# Written by `dagger call settings-export` from the stack's metadata database.\n")
        if left_out:
            f.write(f"# {left_out} password(s) and sensitive value(s) left out; --include-secrets writes them.\n")
        try:
            import yaml

            yaml.safe_dump(doc, f, sort_keys=False, allow_unicode=True)
        except ImportError:  # YAML is a superset of JSON
            json.dump(doc, f, indent=2)
    print(f"settings: {len(connections)} connection(s), {len(pools)} pool(s), {len(variables)} variable(s) exported"
          + (f", {left_out} secret value(s) left out" if left_out else ""))


if __name__ == "__main__":
    main()

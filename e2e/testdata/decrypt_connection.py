"""Prints a stored connection's password as Airflow decrypts it with the
container's Fernet key, or fails with the decryption's own error.

    python3 decrypt_connection.py CONN_ID
"""

import sys

from airflow.models.connection import Connection
from airflow.utils.session import create_session

with create_session() as session:
    conn = session.query(Connection).filter_by(conn_id=sys.argv[1]).one()
    print(f"password={conn.password}")

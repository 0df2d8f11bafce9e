"""dataplatform: parse stamps

Records, for every DAG file Airflow's dag-processor compiles, the SHA-256
of the very bytes it compiled and when it read them: a JSON file
{"sha256": ..., "at": seconds since the epoch} at
DATAPLATFORM_PARSE_STAMPS/<the file's path under the dags folder>.json.
The live command and `sync` read them to tell a parse of the content they
sent from one of what the file held before: Airflow's own records cannot
(its DAG's last_parsed_time is set when the result is stored, and its copy
of the source is read from the file again at that time).

Loaded by Airflow in every process as a policy plugin (an entry point of
the group airflow.policy, see the dist-info beside this file), it defines
no policy. Only where DATAPLATFORM_PARSE_STAMPS is set (the dag-processor)
it wraps the loader Airflow's DagBag imports DAG files with
(importlib.machinery.SourceFileLoader): the source it reads is the source
compiled. A file imported from a __pycache__ .pyc is not read as source,
so it gets no stamp: the stack writes no bytecode.
"""

import hashlib
import json
import os
import tempfile
import time
from importlib.machinery import SourceFileLoader

STAMPS = os.environ.get("DATAPLATFORM_PARSE_STAMPS", "")
DAGS = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or os.path.join(os.environ.get("AIRFLOW_HOME", "/opt/airflow"), "dags")


def stamp_path(path):
    """The stamp of the DAG file at path, or None for other files."""
    if not path.endswith(".py") or not path.startswith(DAGS + os.sep):
        return None
    return os.path.join(STAMPS, os.path.relpath(path, DAGS) + ".json")


def write_stamp(target, data, at):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".stamp-", dir=os.path.dirname(target))
    with os.fdopen(fd, "w") as f:
        json.dump({"sha256": hashlib.sha256(data).hexdigest(), "at": at}, f)
    os.replace(tmp, target)  # whole, never half-written


def install():
    read = SourceFileLoader.get_data

    def get_data(self, path):
        at = time.time()  # no later than the read
        data = read(self, path)
        target = stamp_path(path)
        if target is not None:
            try:
                write_stamp(target, data, at)
            except OSError:
                pass  # a stamp missing only makes the live command ask again
        return data

    get_data.dataplatform_stamps = True
    SourceFileLoader.get_data = get_data


if STAMPS and not getattr(SourceFileLoader.get_data, "dataplatform_stamps", False):
    install()

"""dataplatform: upgrade import

Imports every DAG file of the project as the dag-processor does (DagBag),
with the warnings Airflow captures for each file, and lists the image's
packages; writes it all as JSON to OUT (no database needed):

    python3 upgrade-import.py OUT
"""

import importlib.metadata
import json
import os
import sys
import warnings


def main():
    out = sys.argv[1]
    # Deprecations of Airflow itself are what the test is after.
    warnings.simplefilter("default")
    from airflow import __version__
    from airflow.models import DagBag  # the same import from Airflow 3.1 to 3.3

    bag = DagBag()  # the project's dags/, no examples (the stack's setting)
    dags_folder = os.path.realpath(bag.dag_folder)

    def rel(path):
        return os.path.relpath(os.path.realpath(path), dags_folder)

    found = {}
    for dag_id, dag in bag.dags.items():
        found.setdefault(rel(dag.fileloc), []).append(dag_id)
    result = {
        "airflow": __version__,
        "dags": found,
        "errors": {rel(path) if os.path.isabs(path) else path: str(err) for path, err in bag.import_errors.items()},
        "warnings": {rel(path): list(w) for path, w in getattr(bag, "captured_warnings", {}).items()},
        "packages": {d.metadata["Name"].lower(): d.version for d in importlib.metadata.distributions()},
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f)
    print(f"upgrade-import: Airflow {__version__}: {len(bag.dags)} DAG(s), {len(bag.import_errors)} import error(s)")


if __name__ == "__main__":
    main()

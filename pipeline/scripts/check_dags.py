"""Parse every DAG file the way the dag-processor does and fail on any import
error, naming each file and its error. Usage: python check_dags.py DAGS_DIR"""

import sys

from airflow.models import DagBag  # the same import from Airflow 3.1 to 3.3

folder = sys.argv[1]
bag = DagBag(dag_folder=folder)  # no examples: the stack sets [core] load_examples false
for dag_id in sorted(bag.dag_ids):
    print(f"ok     {dag_id}")
for path, error in sorted(bag.import_errors.items()):
    print(f"ERROR  {path}\n{error}")
if bag.import_errors:
    print(f"{len(bag.import_errors)} DAG file(s) failed to import")
    sys.exit(1)
if not bag.dag_ids:
    print(f"no DAGs found in {folder}")
    sys.exit(1)
print(f"{len(bag.dag_ids)} DAG(s) imported without errors")

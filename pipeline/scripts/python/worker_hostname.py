"""dataplatform: worker hostname

Airflow's hostname callable on a Celery worker ([core] hostname_callable =
worker_hostname.advertised): its tasks are recorded under
DATAPLATFORM_WORKER_HOSTNAME rather than the container's own hostname
(every Dagger container's is "localhost"): a stack's worker under its name
(airflow-worker-N), so the UI says which worker ran a task; a worker
node's under the node's address, where the stack's api-server fetches
their logs.
"""

import os


def advertised():
    return os.environ["DATAPLATFORM_WORKER_HOSTNAME"]

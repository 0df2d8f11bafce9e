"""dataplatform: worker hostname

Airflow's hostname callable on a worker node ([core] hostname_callable =
worker_hostname.advertised): its tasks are recorded under the node's
address (DATAPLATFORM_WORKER_HOSTNAME), where the stack's api-server
fetches their logs, rather than under the container's own name, which
only the node's engine knows.
"""

import os


def advertised():
    return os.environ["DATAPLATFORM_WORKER_HOSTNAME"]

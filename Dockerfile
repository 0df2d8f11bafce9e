# The example project's Airflow image, built from AIRFLOW_IMAGE_NAME the way
# Airflow's docs extend the official image: by the Dagger module (`dagger
# call up` builds it, and keeps it in Dagger's cache until this file or
# requirements.txt changes), and by compose's `build:` with the same .env.
ARG AIRFLOW_IMAGE_NAME=apache/airflow:3.1.7
FROM ${AIRFLOW_IMAGE_NAME}

# The project's packages, with Airflow at the image's own version in the
# same command, so that none of them can move Airflow.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt

# dbt in a virtual environment of its own, as Cosmos recommends: its
# dependencies never meet Airflow's. The same versions as the dbt image.
RUN python -m venv /opt/airflow/dbt_venv \
 && /opt/airflow/dbt_venv/bin/pip install --no-cache-dir dbt-core==1.9.11 dbt-postgres==1.9.1

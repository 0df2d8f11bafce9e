#!/bin/bash
# Creates the Airflow and dbt roles and databases. Runs once, as POSTGRES_USER,
# on the first start of an empty data directory (the postgres image's
# /docker-entrypoint-initdb.d/ contract). Names and passwords come from the
# environment through psql's \getenv, so no password is on a command line.
#
# Least privilege: each role is a plain login role (no superuser, no CREATEDB,
# no CREATEROLE) that owns only its own database, and only owners may connect
# to a database: dbt cannot reach Airflow's metadata or the app database, and
# Airflow cannot reach analytics.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv app_db POSTGRES_DB
\getenv airflow_user AIRFLOW_DB_USER
\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv airflow_db AIRFLOW_DB_NAME
\getenv dbt_user DBT_DB_USER
\getenv dbt_password DBT_DB_PASSWORD
\getenv dbt_db DBT_DB_NAME

CREATE ROLE :"airflow_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'airflow_password';
CREATE ROLE :"dbt_user" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'dbt_password';

CREATE DATABASE :"airflow_db" OWNER :"airflow_user";
CREATE DATABASE :"dbt_db" OWNER :"dbt_user";

REVOKE ALL ON DATABASE :"app_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"airflow_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"dbt_db" FROM PUBLIC;
SQL
echo "init-db: created roles and databases for Airflow and dbt"

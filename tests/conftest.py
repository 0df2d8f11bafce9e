"""The project's tests run in its Airflow image (`dagger call pytest`),
with dags/ and plugins/ importable as in the stack, and no database."""

"""The checks teams write first: every DAG file imports, and every DAG
follows the project's rules (an owner of the team, tags, retries); Airflow
refuses a DAG with a cycle when it loads it, which the import check sees."""

import pytest
from airflow.models import DagBag

# The project's rules for every DAG.
MIN_RETRIES = 1
DEFAULT_OWNER = "airflow"  # Airflow's own default: not a team


@pytest.fixture(scope="session")
def dagbag():
    return DagBag()  # the project's dags/, as the dag-processor reads it


def test_every_dag_file_imports(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{path}: {err}" for path, err in dagbag.import_errors.items())


def test_there_are_dags(dagbag):
    assert dagbag.dag_ids


@pytest.mark.parametrize("rule", ["owner", "tags", "retries"])
def test_every_dag_follows_the_rules(dagbag, rule):
    broken = []
    for dag_id, dag in dagbag.dags.items():
        args = dag.default_args or {}
        if rule == "owner" and args.get("owner", DEFAULT_OWNER) == DEFAULT_OWNER:
            broken.append(f"{dag_id}: no owner of the team in default_args")
        if rule == "tags" and not dag.tags:
            broken.append(f"{dag_id}: no tags")
        if rule == "retries" and args.get("retries", 0) < MIN_RETRIES:
            broken.append(f"{dag_id}: retries {args.get('retries', 0)} < {MIN_RETRIES}")
    assert not broken, "; ".join(broken)


def test_no_cycles(dagbag):
    for dag in dagbag.dags.values():
        dag.check_cycle()  # raises on a cycle

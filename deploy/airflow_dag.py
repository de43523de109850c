"""Airflow (2.4+) DAG that launches `parabeam refresh` on Dataflow once a month.

The task runs the parabeam CLI, which submits the Dataflow job itself (runner profile `dataflow`,
site settings in the profiles file), so the Airflow worker needs only `pip install parabeam[gcp]`
and credentials for the project. Trigger with config {"crawl": "CC-MAIN-..."} to mine another crawl.
"""
from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.models.param import Param
from airflow.operators.bash import BashOperator

with DAG(
    dag_id="parabeam_refresh",
    schedule="0 3 1 * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "crawl": Param("CC-MAIN-2025-05", type="string", pattern=r"^CC-MAIN-\d{4}-\d{2}$"),
        "state": Param("gs://YOUR-BUCKET/parabeam/state", type="string", pattern=r"^gs://"),
        "profiles": Param("/opt/parabeam/profiles.yaml", type="string"),
    },
) as dag:
    BashOperator(
        task_id="refresh_on_dataflow",
        bash_command=(
            "parabeam refresh --crawl {{ params.crawl }} --state {{ params.state }}"
            " --runner dataflow --profiles {{ params.profiles }}"
        ),
    )

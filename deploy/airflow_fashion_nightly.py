"""Airflow DAG for the nightly relabeling. Airflow is not a dependency of the package: this file only calls
the `fashion-pipeline` CLI, so the job behaves the same from cron, Airflow or a shell.

Copy it into the DAGs folder and set the Airflow Variables below. Exit codes: 0 published, 2 bad input or
flags (including "another run holds the lock" and "model not blessed"), 3 the catalog broke validation
(nothing published). max_active_runs=1 keeps one run at a time, which an object-store state folder needs
(its lock is best effort there).
"""
import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(
    dag_id='fashion_catalog_nightly',
    schedule='30 2 * * *',
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={'retries': 1, 'retry_delay': datetime.timedelta(minutes=15)},
) as dag:
    BashOperator(
        task_id='nightly',
        bash_command=(
            '{{ var.value.fashion_pipeline_bin }} nightly'
            ' --catalog {{ var.value.fashion_catalog }}'
            ' --model {{ var.value.fashion_model_export }}'
            ' --state {{ var.value.fashion_state }}'
            ' {{ var.value.get("fashion_beam_options", "") }}'
        ),
    )

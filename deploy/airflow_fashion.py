"""Airflow DAGs for the catalog: the nightly relabeling and the weekly retrain. Airflow is not a dependency of the
package: the tasks only call the `fashion-pipeline` CLI, so the jobs behave the same from cron, Airflow or a shell.

Copy this file into the DAGs folder and set the Airflow Variables (or AIRFLOW_VAR_* environment variables):
fashion_pipeline_bin (the CLI, e.g. /srv/fashion-pipeline/.venv/bin/fashion-pipeline), fashion_catalog,
fashion_models (the models folder whose CURRENT names the model in use), fashion_state (the nightly state
folder), and optionally fashion_beam_options and fashion_train_options.

Exit codes (README "Exit codes"): 0 done; 2 bad input or flags and 3 a catalog that broke validation are
permanent, so the task fails without a retry; 75 (another run holds the lock) is temporary and is retried
after FASHION_RETRY_DELAY_SECONDS (default 900). max_active_runs=1 keeps one run at a time, which an
object-store state folder needs (its lock is best effort there).
"""
import datetime
import os

try:  # Airflow 3: the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowFailException
    from airflow.operators.bash import BashOperator

from airflow import DAG

EXIT_TEMPORARY = 75  # pipelines/cli.py EXIT_LOCK_HELD (sysexits' EX_TEMPFAIL); this file does not import the package
RETRY_DELAY = datetime.timedelta(seconds=int(os.environ.get('FASHION_RETRY_DELAY_SECONDS', '900')))
DEFAULT_ARGS = {'retries': 3, 'retry_delay': RETRY_DELAY}
CLI = '{{ var.value.fashion_pipeline_bin }}'


class FashionPipelineOperator(BashOperator):
    """A BashOperator running the CLI that retries only the temporary exit code: any other failure raises
    AirflowFailException, which fails the task at once."""

    def __init__(self, **kwargs):
        super().__init__(skip_on_exit_code=None, **kwargs)

    def execute(self, context):
        try:
            return super().execute(context)
        except Exception as e:  # BashOperator raises AirflowException on a non-zero exit
            process = getattr(self.subprocess_hook, 'sub_process', None)
            code = process.returncode if process is not None else None
            if code == EXIT_TEMPORARY:
                raise
            raise AirflowFailException(f'fashion-pipeline exited {code}: a permanent failure, not retried') from e


def catalog_dag(dag_id, schedule):
    """One run at a time, no catch-up, the retry policy above."""
    return DAG(dag_id=dag_id, schedule=schedule, start_date=datetime.datetime(2026, 1, 1), catchup=False,
               max_active_runs=1, default_args=DEFAULT_ARGS)


with catalog_dag('fashion_catalog_nightly', '30 2 * * *') as nightly:
    FashionPipelineOperator(
        task_id='nightly',
        bash_command=(
            f'{CLI} nightly --catalog {{{{ var.value.fashion_catalog }}}} --model {{{{ var.value.fashion_models }}}}'
            ' --state {{ var.value.fashion_state }} {{ var.value.get("fashion_beam_options", "") }}'
        ),
    )

with catalog_dag('fashion_catalog_retrain', '0 4 * * 0') as retrain:
    overrides = FashionPipelineOperator(
        task_id='export_overrides',
        bash_command=(f'{CLI} review --state {{{{ var.value.fashion_state }}}}'
                      ' --export-overrides {{ var.value.fashion_state }}/label_overrides.csv'),
    )
    train = FashionPipelineOperator(
        task_id='retrain',
        bash_command=(
            f'{CLI} retrain --catalog {{{{ var.value.fashion_catalog }}}} --models {{{{ var.value.fashion_models }}}}'
            ' --overrides {{ var.value.fashion_state }}/label_overrides.csv'
            ' {{ var.value.get("fashion_train_options", "") }}'
        ),
    )
    overrides >> train

"""Airflow DAGs for the catalog: the nightly relabeling, the weekly audit of every label (Wednesdays, so that
reviewers have days to decide its issues before Sunday's retrain), the weekly retrain and the nightly backup of
the reviewers' decisions. Airflow is not a dependency of the
package: the tasks only call the `fashion-pipeline` CLI, so the jobs behave the same from cron, Airflow or a shell.

Copy this file into the DAGs folder and set the Airflow Variables (or AIRFLOW_VAR_* environment variables):
fashion_pipeline_bin (the CLI, e.g. /srv/fashion-pipeline/.venv/bin/fashion-pipeline), fashion_catalog,
fashion_models (the models folder whose CURRENT names the model in use), fashion_state (the nightly state
folder), and optionally fashion_beam_options and fashion_train_options (flags, split on spaces),
fashion_rehash_weekday (the ISO weekday, 1 Monday to 7 Sunday, on which the nightly reads every image with
--rehash; default 6, Saturday; docs/operations.md "What a night reads"), and
fashion_reviews_db and fashion_overrides_file (local paths of the reviews database and of the overrides file the
retrain reads; both default to files in fashion_state, and must be set when fashion_state is on an object store),
fashion_backup_dir (a local folder, best on another disk, where the backup keeps one copy of the reviews
database per weekday; the backup DAG fails in one line without it), and fashion_audit_dir (the local folder the
weekly audit publishes into, which `review --audit` reads; the audit DAG fails in one line without it) with
fashion_audit_options (its train flags, split on spaces).
Each task's time limit is the Variable fashion_<task>_timeout_minutes (defaults in TIMEOUT_MINUTES).

Variables reach the command as environment variables, quoted: a path with a space or a `;` is a path, never
shell code. Exit codes (README "Exit codes"): 0 done; 2 bad input or flags and 3 a catalog that broke
validation are permanent, so the task fails without a retry; 75 (another run holds the lock) is temporary, and
only the nightly, the one task that takes the lock, retries it, after FASHION_RETRY_DELAY_SECONDS (default 900).
max_active_runs=1 keeps one run at a time, which an object-store state folder needs (its lock is best effort
there).
"""
import datetime
import os
import signal
import time

try:  # Airflow 3: the Task SDK and the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, Variable
    from airflow.sdk.exceptions import AirflowFailException, AirflowTaskTimeout
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.exceptions import AirflowFailException, AirflowTaskTimeout
    from airflow.models import Variable
    from airflow.operators.bash import BashOperator

EXIT_TEMPORARY = 75  # pipelines/errors.py LockHeld (sysexits' EX_TEMPFAIL); this file does not import the package
# After the SIGTERM that ends a task (its time limit, or a person marking it failed), the CLI releases its lock,
# removes its staging and cancels its cluster job; whatever of the command's process group is left after this long
# gets SIGKILL.
KILL_GRACE_SECONDS = 60
RETRY_DELAY = datetime.timedelta(seconds=int(os.environ.get('FASHION_RETRY_DELAY_SECONDS', '900')))
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
# The audit trains two models on half the catalog each: 51 minutes on the real catalog on 2 cores with the faster
# recipe, about 1.8 times that (90 minutes) with the default one (docs/labels.md, "The audit").
LOCK_MARGIN = datetime.timedelta(minutes=60)
TIMEOUT_MINUTES = {'nightly': 240, 'export_overrides': 30, 'retrain': 480, 'backup_reviews': 30, 'audit': 480}
ENV = {
    'FASHION_PIPELINE_BIN': '{{ var.value.fashion_pipeline_bin }}',
    'FASHION_CATALOG': '{{ var.value.fashion_catalog }}',
    'FASHION_MODELS': '{{ var.value.fashion_models }}',
    'FASHION_STATE': '{{ var.value.fashion_state }}',
    'FASHION_BEAM_OPTIONS': '{{ var.value.get("fashion_beam_options", "") }}',
    'FASHION_TRAIN_OPTIONS': '{{ var.value.get("fashion_train_options", "") }}',
    'FASHION_REVIEWS_DB': '{{ var.value.get("fashion_reviews_db", "") }}',
    'FASHION_BACKUP_DIR': '{{ var.value.get("fashion_backup_dir", "") }}',
    'FASHION_AUDIT_DIR': '{{ var.value.get("fashion_audit_dir", "") }}',
    'FASHION_AUDIT_OPTIONS': '{{ var.value.get("fashion_audit_options", "") }}',
    'FASHION_REHASH_WEEKDAY': '{{ var.value.get("fashion_rehash_weekday", "6") }}',
    'FASHION_OVERRIDES':
        '{{ var.value.get("fashion_overrides_file", var.value.fashion_state ~ "/label_overrides.csv") }}',
}
# Quoted expansions only; the option lists are split on spaces with globbing off (set -f), never evaluated.
COMMANDS = {
    'nightly': 'set -f; "$FASHION_PIPELINE_BIN" nightly --catalog "$FASHION_CATALOG" --model "$FASHION_MODELS"'
               ' --state "$FASHION_STATE" $([ "$(date +%u)" = "$FASHION_REHASH_WEEKDAY" ] && echo --rehash)'
               ' --max-run-minutes "$FASHION_MAX_RUN_MINUTES" $FASHION_BEAM_OPTIONS',
    'export_overrides': 'set -f; "$FASHION_PIPELINE_BIN" review --state "$FASHION_STATE"'
                        ' ${FASHION_REVIEWS_DB:+--db "$FASHION_REVIEWS_DB"} --export-overrides "$FASHION_OVERRIDES"',
    'backup_reviews': 'set -f; mkdir -p "$FASHION_BACKUP_DIR" && "$FASHION_PIPELINE_BIN" review'
                      ' --state "$FASHION_STATE" ${FASHION_REVIEWS_DB:+--db "$FASHION_REVIEWS_DB"}'
                      ' --backup "$FASHION_BACKUP_DIR/reviews-$(date +%a).sqlite"',
    'audit': 'set -f; "$FASHION_PIPELINE_BIN" audit --catalog "$FASHION_CATALOG" --output "$FASHION_AUDIT_DIR"'
             ' --overrides "$FASHION_OVERRIDES" $FASHION_AUDIT_OPTIONS',
    'retrain': 'set -f; "$FASHION_PIPELINE_BIN" retrain --catalog "$FASHION_CATALOG" --models "$FASHION_MODELS"'
               ' --overrides "$FASHION_OVERRIDES" $FASHION_TRAIN_OPTIONS',
}


def timeout(task_id):
    """The task's time limit: the Variable fashion_<task>_timeout_minutes, read when the file is parsed."""
    name = f'fashion_{task_id}_timeout_minutes'
    try:
        minutes = Variable.get(name, default=TIMEOUT_MINUTES[task_id])
    except Exception:  # pylint: disable=broad-except  (no Variable store where the file is parsed)
        minutes = os.environ.get(f'AIRFLOW_VAR_{name.upper()}', TIMEOUT_MINUTES[task_id])
    return datetime.timedelta(minutes=float(minutes))


class FashionPipelineOperator(BashOperator):
    """A BashOperator running one CLI command with the Variables in its environment. A task that may meet the
    lock retries only exit 75; any other failure raises AirflowFailException, which fails the task at once.
    `needs_local`: the Variables that must be local paths when the state folder is on an object store (the task
    refuses up front otherwise); `needs`: the Variables it cannot run without."""

    def __init__(self, *, task_id, takes_lock=False, needs_local=(), needs=(), **kwargs):
        limit = timeout(task_id)
        # A run that takes the lock outlives its time limit by at most LOCK_MARGIN before the next run may take
        # the lock over (pipelines/storage/state.py, the maximum run age).
        env = ENV
        if takes_lock:
            env = dict(ENV, FASHION_MAX_RUN_MINUTES=str((limit + LOCK_MARGIN).total_seconds() / 60))
        super().__init__(task_id=task_id, bash_command=COMMANDS[task_id], env=env, append_env=True,
                         skip_on_exit_code=None, execution_timeout=limit,
                         retries=3 if takes_lock else 0, retry_delay=RETRY_DELAY, **kwargs)
        self.needs_local, self.needs = needs_local, needs

    def execute(self, context):
        unset = [name for name in self.needs if not self.env[_env_key(name)]]
        if unset:
            raise AirflowFailException(f'set the Airflow Variable(s) {", ".join(unset)}')
        if self.needs_local and '://' in self.env['FASHION_STATE']:
            missing = [name for name in self.needs_local
                       if not self.env[_env_key(name)] or '://' in self.env[_env_key(name)]]
            if missing:
                raise AirflowFailException(
                    f'fashion_state {self.env["FASHION_STATE"]!r} is on an object store: set the Airflow '
                    f'Variable(s) {", ".join(missing)} to local paths (the reviews database and the overrides file '
                    'are local files)')
        try:
            return super().execute(context)
        except AirflowTaskTimeout as e:  # not a temporary failure: the next scheduled run starts afresh
            self.on_kill()
            raise AirflowFailException(f'fashion-pipeline ran past its time limit ({self.execution_timeout}): '
                                       'stopped, not retried') from e
        except Exception as e:  # BashOperator raises AirflowException on a non-zero exit
            process = getattr(self.subprocess_hook, 'sub_process', None)
            code = process.returncode if process is not None else None
            if code == EXIT_TEMPORARY and self.retries:
                raise
            raise AirflowFailException(f'fashion-pipeline exited {code}: a permanent failure, not retried') from e

    def on_kill(self):
        """SIGTERM to the command's whole process group (its bash leads one of its own), then, once the CLI has had
        KILL_GRACE_SECONDS to clean up, SIGKILL to whatever of the group is left."""
        process = getattr(self.subprocess_hook, 'sub_process', None)
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        while time.monotonic() < deadline:
            process.poll()  # reaps the bash that leads the group once it ends
            if not _signal_group(process.pid, 0):
                return
            time.sleep(0.2)
        _signal_group(process.pid, signal.SIGKILL)


def _signal_group(group, signum):
    """Sends `signum` to the process group `group` (0: only checks it); whether any process of it lives."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _env_key(variable):
    """The environment variable a Variable reaches the command as."""
    return {'fashion_overrides_file': 'FASHION_OVERRIDES'}.get(variable, variable.upper())


def catalog_dag(dag_id, schedule):
    """One run at a time, no catch-up."""
    return DAG(dag_id=dag_id, schedule=schedule, start_date=START, catchup=False, max_active_runs=1)


with catalog_dag('fashion_catalog_nightly', '30 2 * * *') as nightly:
    FashionPipelineOperator(task_id='nightly', takes_lock=True)

with catalog_dag('fashion_catalog_audit', '0 4 * * 3') as audit:
    FashionPipelineOperator(task_id='export_overrides',
                            needs_local=('fashion_reviews_db', 'fashion_overrides_file')) >> FashionPipelineOperator(
        task_id='audit', needs=('fashion_audit_dir',))

with catalog_dag('fashion_catalog_retrain', '0 4 * * 0') as retrain:
    FashionPipelineOperator(task_id='export_overrides',
                            needs_local=('fashion_reviews_db', 'fashion_overrides_file')) >> FashionPipelineOperator(
        task_id='retrain')

with catalog_dag('fashion_reviews_backup', '30 1 * * *') as backup:
    FashionPipelineOperator(task_id='backup_reviews', needs=('fashion_backup_dir',),
                            needs_local=('fashion_reviews_db',))

"""The pipeline options' checks before a job starts, and a runner's failure in one line (pipelines/jobs/runners.py).
The same cases on a real Flink cluster: tests/deploy/test_flink.py."""
import socket

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.errors import JobFailed, Unavailable, UserError
from pipelines.jobs import launch, runners
from tests.sockets import beam_job_on_loopback


def _closed_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _flink(*extra, jar):
    return PipelineOptions(['--runner=FlinkRunner', f'--flink_job_server_jar={jar}', *extra])


@pytest.fixture
def jar(tmp_path):
    path = tmp_path / 'job-server.jar'
    path.write_bytes(b'')
    return str(path)


def test_the_direct_runner_and_its_own_options_pass():
    runners.check(PipelineOptions(['--direct_running_mode=multi_processing', '--direct_num_workers=2']))


@pytest.mark.parametrize('argv, message', [
    (['--flink_mastr=127.0.0.1:1'], 'unknown pipeline option --flink_mastr'),
    (['--direct_num_workers=two'], "bad pipeline option: argument --direct_num_workers: invalid int value: 'two'"),
    (['--runner=FlinkRuner'], 'unknown runner --runner=FlinkRuner'),
])
def test_a_bad_option_is_one_line(argv, message):
    with pytest.raises(UserError, match=message) as raised:
        runners.check(PipelineOptions(argv))
    assert raised.value.exit_code == 2 and '\n' not in str(raised.value)


@pytest.mark.parametrize('master', [None, '[auto]', '[local]'])
def test_flink_without_a_cluster_is_refused_rather_than_downloading_an_embedded_one(master, jar):
    extra = [f'--flink_master={master}'] if master else []
    with pytest.raises(UserError, match='needs --flink_master'):
        runners.check(_flink(*extra, jar=jar))


def test_flink_needs_an_existing_job_server_jar(tmp_path):
    with pytest.raises(UserError, match='does not exist'):
        runners.check(_flink('--flink_master=127.0.0.1:1', jar=str(tmp_path / 'missing.jar')))
    with pytest.raises(UserError, match='needs --flink_job_server_jar'):
        runners.check(PipelineOptions(['--runner=FlinkRunner', '--flink_master=127.0.0.1:1']))


@pytest.mark.parametrize('runner, master', [('FlinkRunner', '--flink_master'), ('SparkRunner', '--spark_master_url')])
def test_a_cluster_s_job_server_needs_no_jar_and_one_that_does_not_answer_is_temporary(runner, master):
    with socket.socket() as listening:
        listening.bind(('127.0.0.1', 0))
        listening.listen()
        address = f'127.0.0.1:{listening.getsockname()[1]}'
        cluster = f'{master}={"spark://" if runner == "SparkRunner" else ""}{address}'
        runners.check(PipelineOptions([f'--runner={runner}', cluster, f'--job_endpoint={address}']))
        with pytest.raises(Unavailable, match=r'job service \(--job_endpoint\) .* does not answer') as raised:
            runners.check(PipelineOptions([f'--runner={runner}', cluster,
                                           f'--job_endpoint=127.0.0.1:{_closed_port()}']))
    assert raised.value.exit_code == 75


def test_a_cluster_that_does_not_answer_is_temporary(jar):
    with pytest.raises(Unavailable, match='Flink cluster .* does not answer') as raised:
        runners.check(_flink(f'--flink_master=127.0.0.1:{_closed_port()}', jar=jar))
    assert raised.value.exit_code == 75


@pytest.mark.parametrize('master', [None, 'local[2]'])
def test_spark_without_a_cluster_is_refused_rather_than_running_an_embedded_one(master, jar):
    extra = [f'--spark_master_url={master}'] if master else []
    with pytest.raises(UserError, match='needs --spark_master_url=spark://'):
        runners.check(PipelineOptions(['--runner=SparkRunner', f'--spark_job_server_jar={jar}', *extra]))


def test_spark_needs_an_existing_job_server_jar(tmp_path):
    master = '--spark_master_url=spark://127.0.0.1:1'
    with pytest.raises(UserError, match='does not exist'):
        runners.check(PipelineOptions(['--runner=SparkRunner', master,
                                       f'--spark_job_server_jar={tmp_path / "missing.jar"}']))
    with pytest.raises(UserError, match='needs --spark_job_server_jar'):
        runners.check(PipelineOptions(['--runner=SparkRunner', master]))


def test_a_spark_master_that_does_not_answer_is_temporary(jar):
    with pytest.raises(Unavailable, match='Spark master .* does not answer') as raised:
        runners.check(PipelineOptions(['--runner=SparkRunner', f'--spark_master_url=spark://127.0.0.1:{_closed_port()}',
                                       f'--spark_job_server_jar={jar}']))
    assert raised.value.exit_code == 75


def test_a_worker_pool_that_does_not_answer_is_temporary():
    with socket.socket() as listening:
        listening.bind(('127.0.0.1', 0))
        listening.listen()
        job_service = f'127.0.0.1:{listening.getsockname()[1]}'
        with pytest.raises(Unavailable, match='worker pool'):
            runners.check(PipelineOptions(['--runner=PortableRunner', f'--job_endpoint={job_service}',
                                           '--environment_type=EXTERNAL',
                                           f'--environment_config=127.0.0.1:{_closed_port()}']))


FLINK_FAILURE = """Pipeline BeamApp-root-1201 failed in state FAILED: java.lang.RuntimeException: Error received from \
SDK harness for instruction 1: Traceback (most recent call last):
  File "loader_impl.py", line 108, in parse_saved_model
google.protobuf.message.DecodeError: Error parsing message

Traceback (most recent call last):
  File "inference.py", line 31, in load_model
OSError: Cannot parse file b'/m/1/saved_model.pb': Error parsing message. [while running 'score catalog/run inference']

\tat org.apache.beam.runners.fnexecution.control.FnApiControlClient.handle(FnApiControlClient.java:1)
Caused by: java.lang.IllegalStateException: bundle failed
"""


def test_a_failed_job_is_the_workers_last_python_error_in_one_line():
    failed = runners.failure(RuntimeError(FLINK_FAILURE))
    assert isinstance(failed, JobFailed) and failed.exit_code == 1
    assert str(failed) == ("the job failed on the runner: OSError: Cannot parse file b'/m/1/saved_model.pb': Error "
                           "parsing message. [while running 'score catalog/run inference']")


def test_each_pipeline_gets_its_own_copy_of_the_options():
    """Beam's portable runners clear --runner in the options they run: a job's second pipeline must still get
    the runner it was given."""
    options = PipelineOptions(['--runner=PortableRunner', '--job_endpoint=embed', '--environment_type=LOOPBACK'])
    for _ in range(2):
        with beam_job_on_loopback(servers=0):  # a job this short can end between two looks
            launch.run(options, lambda p: p | beam.Create([1, 2]) | beam.Map(lambda x: x))
        assert options.view_as(StandardOptions).runner == 'PortableRunner'

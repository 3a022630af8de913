"""Beam's servers on loopback (pipelines/jobs/loopback.py): what it overrides still exists in Beam, a job moved by
$BEAM_FN_SERVER_HOST still runs and says so, and a server asked to listen outside loopback says so first."""
import inspect
import os
import subprocess
import sys

import pytest

from pipelines import cli
from pipelines.jobs import loopback
from tests import review_state
from tests.sockets import address, listening_sockets, loopback_only, this_process_tree

FASHION_PIPELINE = os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline')
NOT_HERE = '198.51.100.7'  # TEST-NET-2 (RFC 5737): an address of no machine, never sent a packet here
RUN_LIMIT_S = 300


def test_beam_still_binds_every_interface_where_loopback_py_overrides_it():
    """When this fails, Beam changed the code that loopback.py overrides: read its table again (Beam may now take
    a host option, and the override can go)."""
    from apache_beam.runners.portability import abstract_job_service, local_job_service
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.runners.worker import worker_pool_main
    every_interface = {
        worker_handlers.GrpcServer.__init__: 4,
        local_job_service.SubprocessSdkWorker.run: 1,
        abstract_job_service.UberJarBeamJob._start_artifact_service: 1,  # pylint: disable=protected-access
        worker_pool_main.BeamFnExternalWorkerPoolServicer.start: 1,
    }
    for function, servers in every_interface.items():
        source = inspect.getsource(function)
        assert source.count("add_insecure_port(") == servers and "'[::]:" in source, function.__qualname__
    for handler in (worker_handlers.GrpcWorkerHandler, worker_handlers.ExternalWorkerHandler):
        assert 'host_from_worker' in vars(handler)
    assert 'get_service_address' in vars(local_job_service.LocalJobServicer)


def test_loopback_names_and_addresses():
    assert all(map(loopback.is_loopback, ['127.0.0.1', '127.0.0.2', '::1', '[::1]', 'localhost']))
    assert not any(map(loopback.is_loopback, ['0.0.0.0', '::', NOT_HERE, 'no-such-host.invalid']))
    assert loopback.exposure('the review app', '127.0.0.1', '--host') is None
    line = loopback.exposure('the review app', '0.0.0.0', '--host')
    assert '0.0.0.0 (--host), outside loopback' in line and '\n' not in line


@pytest.mark.parametrize('value, says', [
    (None, None),
    ('127.0.0.2', "Beam's gRPC servers will listen on 127.0.0.2 ($BEAM_FN_SERVER_HOST), not 127.0.0.1"),
    (NOT_HERE, f"Beam's gRPC servers will listen on {NOT_HERE} ($BEAM_FN_SERVER_HOST), outside loopback"),
])
def test_moving_beam_s_servers_is_said_in_one_line(monkeypatch, value, says):
    if value is None:
        monkeypatch.delenv(loopback.HOST_VARIABLE, raising=False)
        assert loopback.moved() is None
    else:
        monkeypatch.setenv(loopback.HOST_VARIABLE, value)
        assert says in loopback.moved() and '\n' not in loopback.moved()


@pytest.mark.slow  # worker processes
def test_a_job_moved_to_another_loopback_address_runs_there_and_says_so(synthetic_catalog, tmp_path):
    """The multi-process prepare with BEAM_FN_SERVER_HOST=127.0.0.2: every Beam server of the job listens there,
    its workers reach them, and the run says so in one line on stderr."""
    env = dict(os.environ, **{loopback.HOST_VARIABLE: '127.0.0.2'})
    env.pop('TF_CPP_MIN_LOG_LEVEL')  # the tests' level 2 lets TensorFlow's import noise through; a user's run has 3
    command = [FASHION_PIPELINE, 'prepare', '--catalog', synthetic_catalog, '--output', str(tmp_path / 'out'),
               '--direct_running_mode=multi_processing', '--direct_num_workers=2']
    with loopback_only(this_process_tree, 'the prepare job') as seen:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        "fashion-pipeline: Beam's gRPC servers will listen on 127.0.0.2 ($BEAM_FN_SERVER_HOST), not 127.0.0.1"]
    job = {(str(address(hex_address)), port) for hex_address, port, _, command in seen if 'prepare' in command}
    assert len(job) >= 4 and {host for host, _ in job} == {'127.0.0.2'}, seen


def test_the_review_app_asked_to_listen_outside_loopback_says_so_before_it_tries(tmp_path, capsys):
    """--host NOT_HERE: the line, then the one-line error of an address the machine does not have (nothing binds)."""
    state_dir, _, _ = review_state.write(str(tmp_path), rows=100)
    code = cli.main(['review', '--state', state_dir, '--host', NOT_HERE, '--port', '0'])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[0] == (f'fashion-pipeline: the review app will listen on {NOT_HERE} (--host), outside loopback: '
                        'anyone who reaches this machine at that address can connect to it'), error
    assert len(error) == 2


def test_each_beam_server_it_covers_listens_on_loopback_and_hands_out_a_loopback_address():
    """The servers a product job starts only on some runners, started directly: the Fn API servers, the local job
    service with its artifact staging, the worker pool of LOOPBACK environments."""
    from apache_beam.runners.portability import local_job_service
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.runners.worker import worker_pool_main
    loopback.apply()
    fn_api = worker_handlers.GrpcServer(worker_handlers.StateServicer(), None, None)
    job_service = local_job_service.LocalJobServicer()
    job_port = job_service.start_grpc_server(0)
    pool_address, pool = worker_pool_main.BeamFnExternalWorkerPoolServicer.start()
    try:
        ports = {fn_api.control_port, fn_api.data_port, fn_api.state_port, fn_api.logging_port, job_port,
                 int(pool_address.rsplit(':', 1)[1])}
        listening = {port: str(address(hex_address)) for hex_address, port, _ in listening_sockets([os.getpid()])}
        assert {port: listening.get(port) for port in ports} == {port: '127.0.0.1' for port in ports}
        assert pool_address.startswith('127.0.0.1:')
        assert job_service._artifact_staging_endpoint.url == f'127.0.0.1:{job_port}'  # pylint: disable=protected-access
    finally:
        fn_api.close()
        job_service.stop()
        pool.stop(0)

"""Beam's Python gRPC servers bound to loopback (or to $BEAM_FN_SERVER_HOST), not to every interface.

While a job runs, Beam's Python SDK serves the Fn API (control, data, state, logging) to its SDK workers, and,
on the portable runner, a job service, artifact staging and a worker pool. It binds each of them to '[::]', every
interface, though the workers it starts dial 'localhost': whoever reaches the machine could take a worker's
instructions and data, or answer as a worker. No option changes it. `apply()` does, before a pipeline is built
(jobs/launch.py): each Beam module below gets a view of `grpc` whose servers bind HOST, and the addresses that
Beam hands its workers name HOST too.

What it overrides, in apache-beam 2.63.0 (runners/...):
- portability/fn_api_runner/worker_handlers.py: GrpcServer.__init__ binds control, data, state and logging to
  '[::]:0'; GrpcWorkerHandler.host_from_worker ('localhost') and ExternalWorkerHandler.host_from_worker
  (socket.getfqdn(), which may not be loopback) name the address a worker dials;
- portability/local_job_service.py: SubprocessSdkWorker.run binds its worker's logging server to '[::]:0' and
  hands out 'localhost:%s'; LocalJobServicer.start_grpc_server binds get_service_address() ('localhost');
- portability/abstract_job_service.py: UberJarBeamJob._start_artifact_service binds '[::]:%s', hands out
  'localhost:%d';
- worker/worker_pool_main.py: BeamFnExternalWorkerPoolServicer.start (LOOPBACK environments) binds '[::]:%s',
  returns 'localhost:%s';
- portability/expansion_service_main.py: main binds '[::]:{port}' (the product starts no expansion service).

Checked against Beam's upstream master as stored in December 2026 (worker_handlers.py and local_job_service.py
unchanged there: still '[::]', no host option), so this stays until Beam takes one. The Java side (the Flink and
Spark job servers, the TaskManagers) is patched by deploy/flink/loopback.patch, with the same variable. When Beam
is upgraded, tests/jobs/test_loopback.py fails on a name here that is gone, and the socket watch on any Beam
server that listens outside loopback.

HOST is 127.0.0.1 unless $BEAM_FN_SERVER_HOST names another address of this machine that the workers can reach
(a container bridge, say); a run that moves the servers says so in one line on stderr.
"""
import functools
import ipaddress
import os
import socket
import sys

import grpc
from apache_beam.portability.api import endpoints_pb2

HOST_VARIABLE = 'BEAM_FN_SERVER_HOST'
DEFAULT_HOST = '127.0.0.1'
_announced = set()


def host():
    """The address Beam's servers bind: $BEAM_FN_SERVER_HOST, else 127.0.0.1."""
    return os.environ.get(HOST_VARIABLE, '').strip() or DEFAULT_HOST


def is_loopback(name):
    """Whether a host name or address reaches only this machine (every address it resolves to is loopback)."""
    try:
        return ipaddress.ip_address(name.strip('[]')).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split('%')[0]).is_loopback for a in addresses)


def exposure(what, bound_host, moved_by):
    """The one line that says a server will listen outside loopback, or None when it stays on loopback."""
    if is_loopback(bound_host):
        return None
    return (f'fashion-pipeline: {what} will listen on {bound_host} ({moved_by}), outside loopback: anyone who '
            'reaches this machine at that address can connect to it')


def say_if_exposed(what, bound_host, moved_by):
    """Prints exposure()'s line on stderr when there is one."""
    line = exposure(what, bound_host, moved_by)
    if line:
        print(line, file=sys.stderr, flush=True)


def moved():
    """The one line that says Beam's servers were moved by $BEAM_FN_SERVER_HOST, or None when they were not."""
    if host() == DEFAULT_HOST:
        return None
    return exposure("Beam's gRPC servers", host(), f'${HOST_VARIABLE}') or (
        f"fashion-pipeline: Beam's gRPC servers will listen on {host()} (${HOST_VARIABLE}), not {DEFAULT_HOST}")


def apply():
    """Binds Beam's servers in this process to host(); idempotent. Says so on stderr, once, when
    $BEAM_FN_SERVER_HOST moved them."""
    # Imported here, not at the top: the review app and its gunicorn config use is_loopback and exposure alone.
    # pylint: disable=import-outside-toplevel
    from apache_beam.runners.portability import abstract_job_service, expansion_service_main, local_job_service
    from apache_beam.runners.portability.fn_api_runner import worker_handlers
    from apache_beam.runners.worker import worker_pool_main
    for module in (worker_handlers, local_job_service, abstract_job_service, worker_pool_main,
                   expansion_service_main):
        if not isinstance(module.grpc, _LoopbackGrpc):
            module.grpc = _LoopbackGrpc()
    for module in (local_job_service, abstract_job_service):
        if not isinstance(module.endpoints_pb2, _LoopbackEndpoints):
            module.endpoints_pb2 = _LoopbackEndpoints()
    worker_handlers.GrpcWorkerHandler.host_from_worker = _advertised
    worker_handlers.ExternalWorkerHandler.host_from_worker = _advertised
    local_job_service.LocalJobServicer.get_service_address = _advertised
    start = worker_pool_main.BeamFnExternalWorkerPoolServicer.start
    if not getattr(start, 'loopback', False):
        worker_pool_main.BeamFnExternalWorkerPoolServicer.start = classmethod(_pool_start(start.__func__))
    line = moved()
    if line and host() not in _announced:
        _announced.add(host())
        print(line, file=sys.stderr, flush=True)


def _in_address(name):
    """A host as it stands before ':PORT' (an IPv6 address in brackets)."""
    return f'[{name}]' if ':' in name and not name.startswith('[') else name


def _advertised(unused_self=None):
    """The host Beam's workers dial: the bound one, or localhost when it is a wildcard."""
    bound = host().strip('[]')
    try:
        if ipaddress.ip_address(bound).is_unspecified:
            return 'localhost'
    except ValueError:
        pass
    return _in_address(bound)


def _rebound(address):
    """'[::]:0' or 'localhost:8099' as host():PORT."""
    return f'{_in_address(host())}:{address.rsplit(":", 1)[1]}'


class _LoopbackGrpc:
    """The `grpc` module as Beam's serving modules see it: its servers bind host()."""

    def __getattr__(self, name):
        return getattr(grpc, name)

    @staticmethod
    def server(*args, **kwargs):
        server = grpc.server(*args, **kwargs)
        bind = server.add_insecure_port

        def add_insecure_port(address):
            port = bind(_rebound(address))
            if not port:  # grpc answers 0 (newer versions raise) when it cannot bind
                raise RuntimeError(f'cannot listen on {_rebound(address)} (${HOST_VARIABLE})')
            return port

        server.add_insecure_port = add_insecure_port
        return server


class _LoopbackEndpoints:
    """`endpoints_pb2` as Beam's job services see it: a 'localhost:PORT' they hand out names host()."""

    def __getattr__(self, name):
        return getattr(endpoints_pb2, name)

    @staticmethod
    def ApiServiceDescriptor(url='', **kwargs):  # pylint: disable=invalid-name  (protobuf's name)
        if url.startswith('localhost:'):
            url = f'{_advertised()}:{url.rsplit(":", 1)[1]}'
        return endpoints_pb2.ApiServiceDescriptor(url=url, **kwargs)


def _pool_start(start):
    """worker_pool_main's start, returning the address its runner dials as host():PORT."""

    @functools.wraps(start)
    def loopback_start(cls, *args, **kwargs):
        address, server = start(cls, *args, **kwargs)
        return f'{_advertised()}:{address.rsplit(":", 1)[1]}', server

    loopback_start.loopback = True
    return loopback_start

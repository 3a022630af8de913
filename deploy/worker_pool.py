"""Beam's external worker pool, listening on 127.0.0.1 only.

Beam's stock launcher (apache_beam.runners.worker.worker_pool_main) binds every interface ('[::]:PORT'), and
whoever reaches the pool can make it start an SDK harness against a control endpoint of their choosing: code
execution. This launcher serves a pool like Beam's (one SDK harness process per StartWorker request) on
127.0.0.1, with one change (HarnessPool says which), and stops its harnesses on SIGTERM.

    python deploy/worker_pool.py --port PORT     (deploy/flink/cluster.py and deploy/spark/cluster.py start it)
"""
import argparse
import signal
import subprocess
import sys
import threading
import traceback

import grpc
from apache_beam.portability.api import beam_fn_api_pb2, beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.utils import thread_pool_executor

HOST = '127.0.0.1'


class HarnessPool(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):
    """Starts harnesses as Beam's servicer (worker_pool_main.BeamFnExternalWorkerPoolServicer) does, but never
    stops one on a StopWorker request: a harness ends by itself when its runner closes the control channel,
    which the runner does before it asks for the stop. The request names only a worker id, and every runner
    process numbers its harnesses from "1-1": with two TaskManagers on one pool, Beam's servicer (one process
    per id) killed the other TaskManager's harness of the same id in the middle of its work ("CANCELLED:
    client cancelled"), and stopping the one harness of an id still running killed a harness that had just
    started for the other TaskManager, whose stage then waited for it forever. The pool stops what is left
    when it stops. The harnesses write into the pool's log (Beam's servicer gives them a pipe nobody reads)."""

    def __init__(self):
        self._harnesses = []  # Popen
        self._lock = threading.Lock()

    def StartWorker(self, start_worker_request, unused_context):
        command = ['python', '-c', 'from apache_beam.runners.worker.sdk_worker import SdkHarness; '
                   f'SdkHarness({start_worker_request.control_endpoint.url!r}, '
                   f'worker_id={start_worker_request.worker_id!r}, state_cache_size=0, '
                   'data_buffer_time_limit_ms=-1).run()']
        try:
            process = subprocess.Popen(command, close_fds=True, stdin=subprocess.DEVNULL)
        except OSError:
            return beam_fn_api_pb2.StartWorkerResponse(error=traceback.format_exc())
        with self._lock:
            self._harnesses = [p for p in self._harnesses if p.poll() is None] + [process]
        print(f'started SDK harness {start_worker_request.worker_id} (pid {process.pid}) for '
              f'{start_worker_request.control_endpoint.url}', flush=True)
        return beam_fn_api_pb2.StartWorkerResponse()

    def StopWorker(self, stop_worker_request, unused_context):
        return beam_fn_api_pb2.StopWorkerResponse()

    def stop_all(self):
        with self._lock:
            harnesses = list(self._harnesses)
        for process in harnesses:
            if process.poll() is None:
                worker_pool_main.kill_process_gracefully(process)


def serve(port):
    """Serves the pool until SIGTERM or SIGINT, then stops the SDK harnesses it started."""
    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[('grpc.http2.max_pings_without_data', 0), ('grpc.http2.max_ping_strikes', 0)])
    if not server.add_insecure_port(f'{HOST}:{port}'):
        sys.exit(f'worker pool: cannot listen on {HOST}:{port}')
    pool = HarnessPool()
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    print(f'worker pool listening on {HOST}:{port}', flush=True)

    def stop(signum, frame):
        server.stop(grace=5)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.wait_for_termination()
    pool.stop_all()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--port', type=int, required=True)
    serve(parser.parse_args().port)

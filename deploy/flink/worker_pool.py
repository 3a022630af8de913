"""Beam's external worker pool, listening on 127.0.0.1 only.

Beam's stock launcher (apache_beam.runners.worker.worker_pool_main) binds every interface ('[::]:PORT'), and
whoever reaches the pool can make it start an SDK harness against a control endpoint of their choosing: code
execution. This launcher serves the same servicer (BeamFnExternalWorkerPoolServicer, one SDK harness process per
StartWorker request) on 127.0.0.1, and stops its harnesses on SIGTERM.

    python deploy/flink/worker_pool.py --port PORT     (deploy/flink/cluster.py starts it)
"""
import argparse
import signal
import sys

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.utils import thread_pool_executor

HOST = '127.0.0.1'


def serve(port):
    """Serves the pool until SIGTERM or SIGINT, then stops the SDK harnesses it started."""
    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[('grpc.http2.max_pings_without_data', 0), ('grpc.http2.max_ping_strikes', 0)])
    if not server.add_insecure_port(f'{HOST}:{port}'):
        sys.exit(f'worker pool: cannot listen on {HOST}:{port}')
    pool = worker_pool_main.BeamFnExternalWorkerPoolServicer(use_process=True, data_buffer_time_limit_ms=-1)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    print(f'worker pool listening on {HOST}:{port}', flush=True)

    def stop(signum, frame):
        server.stop(grace=5)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.wait_for_termination()
    for worker in list(pool._worker_processes.values()):  # the servicer keeps no public list of its harnesses
        worker_pool_main.kill_process_gracefully(worker)


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--port', type=int, required=True)
    serve(parser.parse_args().port)

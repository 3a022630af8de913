"""gunicorn settings for the review app behind a team's proxy (docs/operations.md, "Running the review app for a
team"): `.venv/bin/gunicorn -c deploy/review/gunicorn.conf.py 'pipelines.review.wsgi:from_environment()'`.

Listens on 127.0.0.1 (the proxy is the only client); FASHION_REVIEW_BIND and FASHION_REVIEW_WORKERS change the
address and the number of workers (an address outside loopback is said in one line on stderr). The settings are
checked before any worker starts (pipelines/review/wsgi.py): more than one worker without a shared session secret
is refused, since each worker would sign sessions with its own and reviewers' CSRF tokens would fail at random.
"""
import os
import sys

from pipelines.errors import UserError
from pipelines.jobs import loopback
from pipelines.review import wsgi
from pipelines.storage import reviews

bind = os.environ.get('FASHION_REVIEW_BIND', '127.0.0.1:8765')
workers = int(os.environ.get('FASHION_REVIEW_WORKERS', '2'))
threads = 4  # a request mostly waits on SQLite or an image read
timeout = 60


def on_starting(server):
    if not bind.startswith(('unix:', 'fd://')):  # a host:port, not a socket file
        loopback.say_if_exposed('the review app', bind.rsplit(':', 1)[0], '$FASHION_REVIEW_BIND')
    try:
        db = wsgi.check(os.environ, server.cfg.workers)
    except UserError as e:
        sys.exit(f'fashion-pipeline review: {e}')
    reviews.mark_serving(db, server.pid)  # `review --restore` refuses while the master lives


def on_exit(server):
    reviews.unmark_serving(wsgi.database(os.environ))

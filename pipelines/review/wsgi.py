"""The review app as a WSGI application, for gunicorn behind a team's authenticating proxy:

    FASHION_REVIEW_STATE=/data/labelled-catalog FASHION_REVIEW_SECRET_FILE=/etc/fashion/review-secret \\
    FASHION_REVIEW_USER_HEADER=X-Forwarded-User FASHION_REVIEW_PROXY_SECRET_FILE=/etc/fashion/proxy-secret \\
    FASHION_REVIEW_TRUSTED_HOSTS=review.example.com \\
        .venv/bin/gunicorn -c deploy/review/gunicorn.conf.py 'pipelines.review.wsgi:from_environment()'

Its settings are environment variables: FASHION_REVIEW_STATE (the nightly state folder; required),
FASHION_REVIEW_CATALOG, FASHION_REVIEW_AUDIT and FASHION_REVIEW_DB (as `review --catalog / --audit / --db`),
FASHION_REVIEW_SECRET_FILE (a file holding the session secret, at least 32 bytes) or FASHION_REVIEW_SECRET,
FASHION_REVIEW_USER_HEADER (the proxy's header naming the authenticated reviewer, e.g. X-Forwarded-User) with
FASHION_REVIEW_PROXY_SECRET_FILE or FASHION_REVIEW_PROXY_SECRET (the secret the proxy sends in
X-Review-Proxy-Secret with every request: without it the user header is not believed), and
FASHION_REVIEW_TRUSTED_HOSTS (the host names the app is reached by, comma-separated, besides 127.0.0.1 and
localhost).

Several workers must sign sessions with one secret, or a CSRF token issued by one worker is refused by the next:
deploy/review/gunicorn.conf.py checks the settings (`check`) before any worker starts, and refuses more than one
worker without FASHION_REVIEW_SECRET_FILE or FASHION_REVIEW_SECRET (docs/operations.md).
"""
import os

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.review import app as review_app, queue as review_queue

MIN_SECRET_BYTES = 32
PROXY_SECRET = 'FASHION_REVIEW_PROXY_SECRET'


def _secret(environ, name):
    """The secret from the environment variable `name`_FILE (a file holding it) or `name`, or None when neither is
    set; UserError for one that is too short or a file that cannot be read."""
    path, value = environ.get(f'{name}_FILE'), environ.get(name)
    if path:
        try:
            with open(path, 'rb') as f:
                secret = f.read().strip()
        except OSError as e:
            raise UserError(f'{name}_FILE: cannot read {path!r}: {e.strerror}') from e
        where = f'the secret in {path}'
    elif value:
        secret, where = value.strip().encode('utf-8'), name
    else:
        return None
    if len(secret) < MIN_SECRET_BYTES:
        raise UserError(f'{where} has {len(secret)} bytes; use at least {MIN_SECRET_BYTES} (e.g. the output of '
                        '`python3 -c "import secrets; print(secrets.token_urlsafe(48))"`)')
    return secret


def session_secret(environ):
    """The shared session secret from FASHION_REVIEW_SECRET_FILE or FASHION_REVIEW_SECRET (None when unset)."""
    return _secret(environ, 'FASHION_REVIEW_SECRET')


def proxy_secret(environ, user_header):
    """With a user header, the secret the proxy sends in review_app.PROXY_SECRET_HEADER, from
    FASHION_REVIEW_PROXY_SECRET_FILE or FASHION_REVIEW_PROXY_SECRET; UserError when it is unset. None without."""
    if not user_header:
        return None
    secret = _secret(environ, PROXY_SECRET)
    if secret is None:
        raise UserError(f'a user header ({user_header}) is believed only from the proxy: set {PROXY_SECRET}_FILE (or '
                        f'{PROXY_SECRET}) to a secret that the proxy sends in {review_app.PROXY_SECRET_HEADER}')
    return secret


def database(environ):
    """The decisions database the settings name."""
    state_dir = environ.get('FASHION_REVIEW_STATE')
    if not state_dir or not os.path.isdir(state_dir):
        raise UserError(f'FASHION_REVIEW_STATE {state_dir!r} is not a folder: set it to the nightly state folder')
    return environ.get('FASHION_REVIEW_DB') or FileSystems.join(state_dir, artifacts.REVIEWS)


def check(environ, workers):
    """The settings for `workers` processes, checked before any starts; returns the database. UserError when
    one is wrong, or when several workers would each draw their own session secret."""
    db = database(environ)
    proxy_secret(environ, environ.get('FASHION_REVIEW_USER_HEADER'))
    if session_secret(environ) is None and workers > 1:
        raise UserError(f'{workers} workers need a shared session secret: set FASHION_REVIEW_SECRET_FILE (or '
                        'FASHION_REVIEW_SECRET), or run one worker')
    review_queue.load_published_run(environ['FASHION_REVIEW_STATE'], environ.get('FASHION_REVIEW_CATALOG'),
                                    environ.get('FASHION_REVIEW_AUDIT'))
    return db


def create(environ):
    """The app as the FASHION_REVIEW_* variables of `environ` configure it."""
    hosts = [h.strip() for h in environ.get('FASHION_REVIEW_TRUSTED_HOSTS', '').split(',') if h.strip()]
    return review_app.create_app(review_queue.LatestRun(environ['FASHION_REVIEW_STATE'],
                                                        environ.get('FASHION_REVIEW_CATALOG'),
                                                        audit_dir=environ.get('FASHION_REVIEW_AUDIT')),
                                 database(environ), [*review_app.LOCAL_HOSTS, *hosts],
                                 secret_key=session_secret(environ),
                                 user_header=environ.get('FASHION_REVIEW_USER_HEADER') or None,
                                 proxy_secret=proxy_secret(environ, environ.get('FASHION_REVIEW_USER_HEADER')))


def from_environment():
    """gunicorn's app factory: the app as this process's environment configures it."""
    return create(os.environ)

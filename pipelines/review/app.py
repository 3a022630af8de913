"""The review web app: a Flask app over the current nightly version and the decisions database.

Flask because the app is a handful of server-rendered pages and two JSON endpoints: its Jinja templates,
signed session cookie and test client cover them, and Werkzeug and Jinja2 were already installed with
TensorFlow. No login of its own: a reviewer types a name, or, behind a team's authenticating proxy, the proxy's
header names the reviewer (`user_header`; docs/operations.md, with gunicorn and a shared session secret).
Every state-changing request is a POST carrying the session's CSRF token. Images are served only by a
validated id from the catalog's images/ folder. The Content-Security-Policy allows nothing but this server:
the page works offline.
"""
import datetime
import hmac
import secrets
import urllib.parse

import flask

from pipelines.rules import catalog
from pipelines.storage import files, reviews
from pipelines.review import queue as review_queue

TEAM_DAYS = 14  # a reviewer who decided within this many days has a slice of the queue (rules/slices.py)
CSP = ("default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
RECENT = 20


LOCAL_HOSTS = ('127.0.0.1', 'localhost')
# Behind a proxy: the header in which the proxy sends the shared secret with every request it forwards.
PROXY_SECRET_HEADER = 'X-Review-Proxy-Secret'


def create_app(published, db_path, trusted_hosts=LOCAL_HOSTS, port=None, secret_key=None, user_header=None,
               proxy_secret=None):
    """The app for a `published` nightly run (review_queue.load_published_run), or for whichever run a callable
    returns at each request (review_queue.LatestRun: the newest published one); decisions go to `db_path`.

    Only requests for `trusted_hosts` (on `port`, when given) are answered; any other Host header gets 400, so
    a web page that points its own name at 127.0.0.1 (DNS rebinding) never reaches the app as same-origin.
    `secret_key` signs the session (and so its CSRF token): processes serving the same users must share it;
    without it, each process draws its own. With `user_header`, the reviewer is the user that request header
    names (set by an authenticating proxy), never a typed name. The header is believed only beside
    PROXY_SECRET_HEADER carrying `proxy_secret` (bytes, compared in constant time): any local process can reach
    the port and send a user header of its choice, but only the proxy knows the secret. A request without both
    gets 401."""
    if user_header is not None and not proxy_secret:
        raise ValueError('a user header needs the proxy secret that proves a request came through the proxy')
    app = flask.Flask(__name__)
    app.config.update(SECRET_KEY=secret_key or secrets.token_bytes(32), SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE='Strict', MAX_CONTENT_LENGTH=64 * 1024,
                      TRUSTED_HOSTS=list(trusted_hosts), REVIEW_PORT=port, REVIEW_DB=db_path)
    current = published if callable(published) else lambda: published
    for_run = {}  # run id -> (article choices, type chooser): computed once per taxonomy served

    def serving():
        """(the run, its article choices, its type chooser) for this request."""
        run = current()
        entry = for_run.get(run.run_id)
        if entry is None:
            choices = review_queue.article_choices(run.taxonomy)
            entry = choices, review_queue.TypeChooser(run.taxonomy, choices)
            for_run.clear()
            for_run[run.run_id] = entry
        return (run, *entry)

    with reviews.connect(db_path):  # create the database up front: a bad path fails at start, not mid-review
        pass
    page_reader = reviews.PageReader()

    def database():
        """The request's one connection to the reviews database, closed when the request ends."""
        if 'reviews' not in flask.g:
            flask.g.reviews = reviews.open_connection(db_path)
        return flask.g.reviews

    @app.teardown_appcontext
    def close_database(_):
        connection = flask.g.pop('reviews', None)
        if connection is not None:
            connection.close()

    def signed_in():
        """The proxy's authenticated user, or None when the app takes typed names; 401 when the proxy's secret or
        the user header is missing."""
        if user_header is None:
            return None
        sent = flask.request.headers.get(PROXY_SECRET_HEADER, '').encode('utf-8', 'surrogateescape')
        if not hmac.compare_digest(sent, proxy_secret):
            flask.abort(flask.make_response(
                flask.jsonify(error=f'not from the proxy: {PROXY_SECRET_HEADER} is missing or wrong'), 401))
        user = flask.request.headers.get(user_header, '').strip()
        if not user:
            flask.abort(flask.make_response(
                flask.jsonify(error=f'no authenticated user: the proxy sets none in {user_header}'), 401))
        return user

    def csrf_token():
        if 'csrf' not in flask.session:
            flask.session['csrf'] = secrets.token_urlsafe(32)
        return flask.session['csrf']

    @app.before_request
    def only_its_port():
        _, colon, given = flask.request.host.rpartition(':')  # Flask has checked the name against TRUSTED_HOSTS
        port_served = app.config['REVIEW_PORT']
        if port_served is not None and colon and not given.endswith(']') and given != str(port_served):
            flask.abort(400)

    @app.after_request
    def headers(response):
        response.headers['Content-Security-Policy'] = CSP
        response.headers['X-Content-Type-Options'] = 'nosniff'
        response.headers['Referrer-Policy'] = 'no-referrer'
        return response

    @app.get('/')
    def index():
        user = signed_in()
        published, choices, chooser = serving()
        args = flask.request.args
        given, predicted = args.get('given') or None, args.get('predicted') or None
        kind = args.get('kind') if args.get('kind') in review_queue.FLAG_KINDS else None  # one kind of flag only
        typed = urllib.parse.unquote(flask.request.cookies.get('reviewer', '')).strip()[:80]  # review.js sets it
        reviewer = user or typed or None
        since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=TEAM_DAYS)).isoformat(
            timespec='seconds')
        counts = page_reader.read(database(), reviewer, since)
        team = sorted(set(counts.team) | ({reviewer} if reviewer else set()))  # the active reviewers and the viewer
        attribute_latest, attribute_seqs = reviews.latest_attributes_of(database())
        items = review_queue.queue(published, counts.latest, given, predicted, reviewer, team, counts.decided,
                                   (kind,) if kind else review_queue.FLAG_KINDS, attribute_latest)
        number = args.get('page', 1, type=int)
        shown, pages = review_queue.page(items, number)
        latest, seqs = reviews.latest_of(database(), [r['id'] for r in shown])
        classes = sorted(published.taxonomy.classes)
        cards = [review_queue.card(r, chooser, latest, attribute_latest, attribute_seqs) for r in shown]
        return flask.render_template(
            'queue.html', published=published, cards=cards,
            seqs=seqs,
            total=len(items), page=number, pages=pages, given=given, predicted=predicted, kind=kind,
            classes=classes, articles=sorted(choices), csrf=csrf_token(), signed_in=user,
            precision=counts.flag_precision, recent=reviews.newest(database(), RECENT), agreement=counts.agreement,
            reviewer=reviewer, team=team)

    @app.get('/image/<item_id>')
    def image(item_id):
        published = current()
        if not catalog.is_valid_id(item_id) or item_id not in published.records:
            flask.abort(404)
        try:
            data = files.read_bytes(catalog.image_path(published.catalog_dir, item_id))
        except (IOError, OSError):
            flask.abort(404)
        return flask.Response(data, mimetype='image/jpeg', headers={'Cache-Control': 'private, max-age=3600'})

    def checked_request():
        """The request's reviewer (the proxy's user, or None) and JSON body; a 403 response for a missing or wrong
        CSRF token."""
        sent = flask.request.headers.get('X-CSRF-Token', '').encode('utf-8', 'surrogateescape')
        if not sent or not hmac.compare_digest(sent, flask.session.get('csrf', '').encode('utf-8')):
            flask.abort(flask.make_response(flask.jsonify(error='missing or wrong CSRF token: reload the page'), 403))
        user = signed_in()
        body = flask.request.get_json(silent=True) or {}
        seen = body.get('seen')
        if not isinstance(seen, int) or isinstance(seen, bool) or seen < 0:
            flask.abort(flask.make_response(flask.jsonify(
                error='the latest decision number the page showed (seen) is required'), 400))
        return user, body

    def recorded(make, store, shown, seen):
        """The answer to a decision request: 400 with the reason when `make` cannot build a decision from it, 409
        with the newer decision when the view the page showed (`seen`) is stale, else the decision `store` recorded
        and its number."""
        try:
            decision = make()
        except ValueError as e:
            return flask.jsonify(error=str(e)), 400
        try:
            seq = store(db_path, decision, seen=seen, set_up=False)
        except reviews.Stale as e:
            return flask.jsonify(error=f'{e}: reload to see it', seq=e.seq, **shown(e.latest)), 409
        return flask.jsonify(seq=seq, **shown(decision))

    @app.post('/decide')
    def decide():
        user, body = checked_request()
        published, choices, chooser = serving()
        return recorded(lambda: review_queue.decision_for(
            published, choices, chooser, str(body.get('id', '')), body.get('decision'), body.get('articleType'),
            user or body.get('reviewer')), reviews.record, _shown, body['seen'])

    @app.post('/decide-attribute')
    def decide_attribute():
        user, body = checked_request()
        return recorded(lambda: review_queue.attribute_decision_for(
            serving()[0], str(body.get('id', '')), body.get('attribute'), body.get('decision'),
            user or body.get('reviewer')), reviews.record_attribute, _attribute_shown, body['seen'])

    return app


def _shown(decision):
    return {'id': decision.id, 'decision': decision.decision, 'articleType': decision.articleType,
            'decided_by': decision.decided_by, 'decided_at': decision.decided_at}


def _attribute_shown(decision):
    return {'id': decision.id, 'attribute': decision.attribute, 'decision': decision.decision, 'value': decision.value,
            'decided_by': decision.decided_by, 'decided_at': decision.decided_at}

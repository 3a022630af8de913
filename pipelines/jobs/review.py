"""Review: flagged and filled-in items of the current nightly published, decided by a person in the browser.

    fashion-pipeline review --state STATE [--catalog DIR] [--audit AUDIT_DIR] [--db FILE] [--host 127.0.0.1]
                            [--port 8765] [--trusted-host NAME] [--user-header HEADER]
    fashion-pipeline review --state STATE --export-overrides label_overrides.csv
    fashion-pipeline review --state STATE --export-attribute-overrides attribute_overrides.csv
    fashion-pipeline review --state STATE --export-label-studio tasks.json [--label-studio-image-paths]
    fashion-pipeline review --state STATE --import-label-studio export.json
    fashion-pipeline review --state STATE --label-studio URL [--label-studio-project NAME]
    fashion-pipeline review --state STATE --backup FILE | --restore FILE

Serves the review app (pipelines/review/app.py) over STATE/CURRENT until interrupted, with an audit's issues
(`fashion-pipeline audit`) queued beside the nightly flags when --audit is given; or, with one of the
export / import flags, does that and exits. --label-studio syncs the queue with a running Label Studio (1.23):
pulls its annotations as decisions, then pushes the queue as tasks with the model's pre-annotations
(pipelines/review/label_studio_sync.py), with the personal access token in $FASHION_LABEL_STUDIO_TOKEN.
Decisions live in --db (default STATE/reviews.sqlite; required when STATE is on an object store, where SQLite
cannot live). --export-overrides writes the latest settling
decision per id for `prepare --overrides`, --export-attribute-overrides the latest decision per id and flagged
attribute for `prepare --attribute-overrides`; the nightly job reads the database itself. --backup copies the
database while reviewers write (SQLite's online backup); --restore puts a backup back, refused while the app
serves that database.
"""
import argparse
import logging
import os
import socket
import sys

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.jobs import loopback
from pipelines.rules import attribute_reviews, overrides
from pipelines.storage import files, overrides_file, reviews
from pipelines.review import label_studio, label_studio_api, label_studio_sync, queue as review_queue

DEFAULT_PORT = 8765
DEFAULT_PROJECT = 'Catalog review'


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='fashion-pipeline review',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--state', required=True, help='the nightly job\'s state folder')
    parser.add_argument('--catalog', help='the catalog folder (default: the one the nightly run recorded)')
    parser.add_argument('--audit', help='a published audit folder: its issues are queued beside the nightly flags '
                                        '(an item changed since the audit is left out)')
    parser.add_argument('--db', help='the decisions database (default: STATE/reviews.sqlite)')
    parser.add_argument('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1: this '
                                                            'machine only; there is no login)')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT, help=f'(default {DEFAULT_PORT})')
    parser.add_argument('--trusted-host', action='append', default=[], metavar='NAME',
                        help='a host name the app may be reached by besides 127.0.0.1, localhost and --host (e.g. '
                             "the name of the team's proxy); any other Host header gets 400. Repeatable")
    parser.add_argument('--user-header', metavar='HEADER',
                        help="behind an authenticating proxy: the request header naming the signed-in reviewer (e.g. "
                             'X-Forwarded-User), used instead of a typed name. It is believed only with the secret '
                             'from $FASHION_REVIEW_PROXY_SECRET (or the file $FASHION_REVIEW_PROXY_SECRET_FILE names), '
                             'which the proxy sends in X-Review-Proxy-Secret; a request without both gets 401')
    action = parser.add_mutually_exclusive_group()
    action.add_argument('--export-overrides', metavar='FILE', help='write label_overrides.csv and exit')
    action.add_argument('--export-attribute-overrides', metavar='FILE',
                        help="write attribute_overrides.csv (reviewers' decisions on flagged attributes) and exit")
    action.add_argument('--export-label-studio', metavar='FILE', help='write the queue as Label Studio tasks')
    action.add_argument('--import-label-studio', metavar='FILE', help='read a Label Studio JSON export as decisions')
    action.add_argument('--label-studio', metavar='URL',
                        help='sync with the Label Studio at URL: pull its annotations as decisions, push the queue '
                             f'as tasks (the personal access token is read from ${label_studio_api.TOKEN_VARIABLE})')
    action.add_argument('--backup', metavar='FILE', help='copy the decisions database to FILE (safe while the app '
                                                         'runs) and exit')
    action.add_argument('--restore', metavar='FILE', help='replace the decisions database by the backup FILE and '
                                                          'exit (refused while the app serves it)')
    parser.add_argument('--label-studio-project', metavar='NAME', default=DEFAULT_PROJECT,
                        help=f'the Label Studio project to sync, created when missing (default {DEFAULT_PROJECT!r})')
    parser.add_argument('--label-studio-image-paths', action='store_true',
                        help='tasks name image paths instead of embedding them as data URIs')
    args = parser.parse_args(argv)
    files.check_paths(args, folders=['state', 'catalog', 'audit'],
                      files=['db', 'export_overrides', 'export_attribute_overrides', 'export_label_studio',
                             'import_label_studio', 'backup', 'restore'])
    if args.db is None:
        if not files.is_local(args.state):
            raise UserError('--db is required when --state is on an object store (SQLite needs a local file)')
        args.db = FileSystems.join(args.state, artifacts.REVIEWS)
    return args


def run(argv=None):
    args = parse_args(argv)
    if args.backup:
        count = reviews.backup(args.db, args.backup)
        print(f'backed up {count} decisions from {args.db} to {args.backup}')
        return count
    if args.restore:
        if not os.path.exists(args.restore):
            raise UserError(f'--restore {args.restore!r} does not exist')
        serving = reviews.serving_pid(args.db)
        if serving:
            raise UserError(f'the review app (pid {serving}) is serving {args.db}: stop it before --restore')
        count = reviews.restore(args.restore, args.db)
        print(f'restored {count} decisions from {args.restore} into {args.db}')
        return count
    if args.export_overrides:
        rows = overrides.from_decisions(reviews.latest(args.db))
        overrides_file.write(args.export_overrides, rows)
        print(f'wrote {len(rows)} overrides to {args.export_overrides}')
        return rows
    if args.export_attribute_overrides:
        rows = attribute_reviews.override_rows(reviews.latest_attributes(args.db))
        overrides_file.write_attributes(args.export_attribute_overrides, rows)
        print(f'wrote {len(rows)} attribute overrides to {args.export_attribute_overrides}')
        return rows
    published = review_queue.load_published_run(args.state, args.catalog, args.audit)
    if args.audit:
        print(f'audit {args.audit}: {published.audit["queued"]} issues queued beside the nightly flags, '
              f'{published.audit["stale"]} left out (the item changed since the audit, or is gone)', flush=True)
    choices = review_queue.article_choices(published.taxonomy)
    if args.export_label_studio:
        tasks = label_studio.queued_tasks(published, args.db, choices, args.label_studio_image_paths)
        label_studio.write_tasks(args.export_label_studio, tasks, sorted(choices), published.attributes)
        print(f'wrote {len(tasks)} Label Studio tasks to {args.export_label_studio} (labeling config: '
              f'{args.export_label_studio}.label_config.xml)')
        return tasks
    if args.label_studio:
        token = os.environ.get(label_studio_api.TOKEN_VARIABLE)
        if not token:
            raise UserError(f'set ${label_studio_api.TOKEN_VARIABLE} to a Label Studio personal access token '
                            '(Account & Settings > Personal Access Token)')
        synced = label_studio_sync.sync(label_studio_api.LabelStudio(args.label_studio, token),
                                        args.label_studio_project, published, args.db)
        for line in synced.skipped + synced.pulled.stale:
            print(f'skipped: {line}', file=sys.stderr)
        print(synced.line(args.label_studio_project))
        return synced
    if args.import_label_studio:
        try:
            exported = label_studio.read_export(args.import_label_studio)
        except ValueError as e:
            raise UserError(str(e)) from e
        taken, problems, unannotated = label_studio.decisions_from_export(exported, published, choices)
        recorded = label_studio.record_taken(args.db, taken)
        for line in problems + recorded.stale:
            print(f'skipped: {line}', file=sys.stderr)
        print(f'imported {recorded.recorded} decisions from {args.import_label_studio} into {args.db}; '
              f'{len(problems)} tasks skipped, {len(recorded.stale)} stale, {recorded.again} imported before, '
              f'{unannotated} not annotated yet')
        return [t.decision for t in taken]
    serve(args, published)
    return None


def serve(args, published):
    """Serves the app with Werkzeug's threaded server until Ctrl-C, printing only what a reviewer needs
    (`--verbose` keeps Werkzeug's request log)."""
    from werkzeug.serving import make_server  # pylint: disable=import-outside-toplevel  (only to serve)
    from pipelines.review import app as review_app, wsgi  # pylint: disable=import-outside-toplevel
    logging.getLogger('werkzeug').setLevel(logging.getLogger().level)
    loopback.say_if_exposed('the review app', args.host, '--host')
    try:  # Werkzeug prints its own error and exits 1 when it cannot listen: check first, for one clear line
        with socket.create_server((args.host, args.port)):
            pass
    except OSError as e:
        raise UserError(f'cannot listen on {args.host}:{args.port}: {e}') from e
    app = review_app.create_app(review_queue.LatestRun(args.state, args.catalog, published, args.audit), args.db,
                                [*review_app.LOCAL_HOSTS, args.host, *args.trusted_host],
                                user_header=args.user_header,
                                proxy_secret=wsgi.proxy_secret(os.environ, args.user_header))
    server = make_server(args.host, args.port, app, threaded=True)
    app.config['REVIEW_PORT'] = server.server_port  # the port it listens on (--port 0: one the system chose)
    print(f'reviewing version {published.run_id} at http://{args.host}:{server.server_port}/ '
          f'(decisions in {args.db}; a newer published version is served when it appears); Ctrl-C stops',
          flush=True)
    with reviews.serving(args.db, os.getpid()):  # --restore refuses while this app lives
        server.serve_forever()  # Werkzeug's returns on Ctrl-C and closes the socket
    print('stopped')


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['review', *sys.argv[1:]]))

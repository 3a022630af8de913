"""The review page's time at scale: GET / with 100,000 decisions in the reviews database.

    .venv/bin/python benchmarks/review_page.py [--items 5000] [--decisions 100000] [--requests 20] [--tree PATH]

Builds a published nightly version of `--items` synthetic items by hand (tests/review_state.py: a third flagged, a
third needing review) and a reviews database of `--decisions` decisions on them by 20 reviewers over 30 days
(rules/slices.py's share of second looks; half the published items decided, on their current fingerprints, so the
queue leaves the settled ones out), then requests the queue page through Flask's test client, as the app under
gunicorn serves it: the median and range of `--requests` page loads after the first, whose time is given apart (a
server process's first page counts every decision). `--tree` imports the project from another checkout (a `git
worktree` of an older commit), to compare before and after a change on the same machine in one session.
"""
import argparse
import dataclasses
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REVIEWERS = 20


def _decisions(records, count, decisions):
    """`count` decisions dated over the last 30 days, round-robin over the reviewers (one in ten not sure, the rest
    accept, keep and relabel in turn): one in 20 a second
    look by another reviewer at the item decided ten before (rules/slices.py shares about 5% of items); the rest
    each on a new item: half the published version's items, then items of earlier versions (ids it no longer has)."""
    settling = (decisions.ACCEPT, decisions.KEEP, decisions.RELABEL)
    published = [records[i] for i in sorted(records, key=int)]
    now, items = time.time(), []
    for n in range(count):
        if n % 20 == 19:
            record = items[-10]
        else:
            record = (published[len(items)] if len(items) < len(published) // 2 else
                      dict(published[len(items) % len(published)], id=str(10 ** 7 + len(items)), fingerprint='gone'))
            items.append(record)
        when = time.strftime('%Y-%m-%dT%H:%M:%S+00:00', time.gmtime(now - (count - n) * 30 * 86400 / count))
        yield decisions.Decision(
            id=record['id'], decision=decisions.NOT_SURE if n % 10 == 5 else settling[n % 3],
            masterCategory=record['masterCategory'],
            subCategory=record['subCategory'], articleType=record['articleType'], given_class=record['given_class'],
            predicted_class=record['predicted_class'], flagged=bool(record['disagrees']),
            decided_by=f'reviewer-{n % REVIEWERS}', decided_at=when, model_version=record['model_version'],
            catalog_version='run', fingerprint=record['fingerprint'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--items', type=int, default=5000)
    parser.add_argument('--decisions', type=int, default=100_000)
    parser.add_argument('--requests', type=int, default=20)
    parser.add_argument('--tree', default=ROOT, help='the checkout to import the project from (default: this one)')
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.tree))
    from pipelines.review import app as review_app, queue  # pylint: disable=import-outside-toplevel
    from pipelines.rules import decisions  # pylint: disable=import-outside-toplevel
    from pipelines.storage import reviews  # pylint: disable=import-outside-toplevel
    from tests import review_state  # pylint: disable=import-outside-toplevel
    with tempfile.TemporaryDirectory() as root:
        state_dir, _, records = review_state.write(root, rows=args.items, full_labels=True)
        db = os.path.join(root, 'reviews.sqlite')
        with reviews.connect(db):
            pass
        made = list(_decisions(records, args.decisions, decisions))
        fields = [f.name for f in dataclasses.fields(decisions.Decision)]
        with sqlite3.connect(db) as connection:
            connection.executemany(f'INSERT INTO decisions ({", ".join(fields)}) '
                                   f'VALUES ({", ".join("?" * len(fields))})',
                                   [[getattr(d, name) for name in fields] for d in made])
        app = review_app.create_app(queue.load_published_run(state_dir), db)
        client = app.test_client()
        client.set_cookie('reviewer', 'reviewer-3')
        start = time.perf_counter()
        assert client.get('/').status_code == 200  # the first request also counts every decision once
        first = 1000 * (time.perf_counter() - start)
        times = []
        for _ in range(args.requests):
            start = time.perf_counter()
            response = client.get('/')
            times.append(1000 * (time.perf_counter() - start))
            assert response.status_code == 200
    print(f'{args.tree}: {len(records)} items, {args.decisions} decisions: GET / median {statistics.median(times):.1f} '
          f'ms (min {min(times):.1f}, max {max(times):.1f}, {args.requests} requests; the first {first:.0f} ms) on '
          f'{_cpu()}, {os.cpu_count()} cores')


def _cpu():
    with open('/proc/cpuinfo', encoding='utf-8') as f:
        return next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), platform.machine())


if __name__ == '__main__':
    main()

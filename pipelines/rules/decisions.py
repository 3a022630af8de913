"""Reviewers' decisions on flagged and filled-in items, kept in SQLite (the stdlib's embedded database).

Append-only: a decision is never updated or deleted, a later one supersedes it (`latest`). Each write is its
own IMMEDIATE transaction in WAL mode, so two reviewers can write at once; a writer waits up to
BUSY_TIMEOUT_S for the other's lock. A decision holds what the reviewer saw (model, catalog version, the
item's fingerprint: label columns, display name, image content hash), so a decision on an item that has
changed since is recognisably stale.
"""
import contextlib
import dataclasses
import datetime
import os
import sqlite3

from pipelines.rules import catalog, changes

ACCEPT, RELABEL, KEEP, NOT_SURE = 'accept', 'relabel', 'keep', 'not_sure'
DECISIONS = (ACCEPT, RELABEL, KEEP, NOT_SURE)
# Decisions that settle an item's label: it is not flagged again until its fingerprint changes.
SETTLING = (ACCEPT, RELABEL, KEEP)
BUSY_TIMEOUT_S = 10.0

_SCHEMA = '''
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    decision TEXT NOT NULL,
    masterCategory TEXT, subCategory TEXT, articleType TEXT,
    given_class TEXT, predicted_class TEXT, flagged INTEGER NOT NULL,
    decided_by TEXT NOT NULL, decided_at TEXT NOT NULL,
    model_version TEXT NOT NULL, catalog_version TEXT NOT NULL, fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_id ON decisions (id, seq);
'''


@dataclasses.dataclass(frozen=True)
class Decision:
    """One reviewer's decision on one item. The label columns are the item's labels after it (for keep: the
    given ones; for not_sure: empty)."""
    id: str
    decision: str
    masterCategory: str  # noqa: N815  (the catalog's column names)
    subCategory: str  # noqa: N815
    articleType: str  # noqa: N815
    given_class: str
    predicted_class: str
    flagged: bool
    decided_by: str
    decided_at: str
    model_version: str
    catalog_version: str
    fingerprint: str

    @property
    def settles(self):
        return self.decision in SETTLING


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


@contextlib.contextmanager
def connect(path):
    """A connection to the decisions database at `path` (created on first use, its folder too), closed on exit."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        connection.execute('PRAGMA journal_mode=WAL')
        connection.executescript(_SCHEMA)
        yield connection
    finally:
        connection.close()


def record(path, decision):
    """Appends one decision in its own transaction; returns its sequence number."""
    if decision.decision not in DECISIONS:
        raise ValueError(f'unknown decision {decision.decision!r}')
    if not catalog.is_valid_id(decision.id):
        raise ValueError(f'invalid id {decision.id!r}')
    fields = dataclasses.asdict(decision)
    with connect(path) as connection:
        connection.execute('BEGIN IMMEDIATE')
        cursor = connection.execute(
            f'INSERT INTO decisions ({", ".join(fields)}) VALUES ({", ".join("?" for _ in fields)})',
            [int(v) if isinstance(v, bool) else v for v in fields.values()])
        connection.execute('COMMIT')
        return cursor.lastrowid


def _decision(row, names):
    values = dict(zip(names, row))
    values.pop('seq')
    values['flagged'] = bool(values['flagged'])
    return Decision(**values)


def latest(path):
    """{id: the latest Decision} (later decisions supersede earlier ones)."""
    with connect(path) as connection:
        cursor = connection.execute(
            'SELECT d.* FROM decisions d JOIN (SELECT id, MAX(seq) AS seq FROM decisions GROUP BY id) last '
            'ON d.seq = last.seq ORDER BY d.seq')
        names = [c[0] for c in cursor.description]
        return {row[names.index('id')]: _decision(row, names) for row in cursor}


def history(path, limit=None):
    """Every decision, newest first (the last `limit` when given)."""
    with connect(path) as connection:
        cursor = connection.execute('SELECT * FROM decisions ORDER BY seq DESC' + (' LIMIT ?' if limit else ''),
                                    (limit,) if limit else ())
        names = [c[0] for c in cursor.description]
        return [_decision(row, names) for row in cursor]


def settles(decision, record):
    """Whether `decision` settles the item as `record` is now: accepted, relabelled or kept, on the same
    fingerprint (a later change to the row or image reopens it)."""
    return decision is not None and decision.settles and decision.fingerprint == changes.fingerprint(record)


def reviewed(record, decision, taxonomy):
    """A scored record with what a reviewer settled for it, when the decision was made on the item as it
    is now (same fingerprint): the reviewed class beside the given and predicted ones, and neither a flag
    nor a needs_review mark. Otherwise the review columns are empty and the record is as scored."""
    if not settles(decision, record):
        return dict(record, **dict.fromkeys(changes.REVIEW_COLUMNS))
    labels = {name: getattr(decision, name) for name in catalog.LABEL_COLUMNS}
    placement = taxonomy.class_of(dict(labels, productDisplayName=record['productDisplayName']))
    return dict(record, reviewed_class=placement.class_name, reviewed_decision=decision.decision,
                reviewed_by=decision.decided_by, reviewed_at=decision.decided_at, disagrees=False, needs_review=False)


def flag_precision(decisions):
    """What reviewers said about the flags, per (given, predicted) pair of the flagged items they settled:
    how many they accepted (the prediction was right), relabelled (the given label was wrong, the prediction
    too) and kept (a false flag). A flag was right when the given label was wrong: precision =
    (accepted + relabelled) / decided. Rows, most decided first."""
    pairs = {}
    for d in decisions:
        if d.flagged and d.settles:
            counts = pairs.setdefault((d.given_class, d.predicted_class), {ACCEPT: 0, RELABEL: 0, KEEP: 0})
            counts[d.decision] += 1
    rows = [{'given': g, 'predicted': p, 'decided': sum(c.values()), 'accepted': c[ACCEPT], 'relabelled': c[RELABEL],
             'kept': c[KEEP], 'precision': (c[ACCEPT] + c[RELABEL]) / sum(c.values())} for (g, p), c in pairs.items()]
    return sorted(rows, key=lambda r: (-r['decided'], r['given'], r['predicted']))

"""The reviews database: reviewers' decisions kept in SQLite (the stdlib's embedded database): the type's in
`decisions`, each flagged attribute's in `attribute_decisions` (rules/attribute_reviews.py).

Append-only: a decision is never updated or deleted, a later one supersedes it (`latest`). Each write is its
own IMMEDIATE transaction in WAL mode, so two reviewers can write at once; a writer waits up to
BUSY_TIMEOUT_S for the other's lock.
"""
import contextlib
import dataclasses
import datetime
import json
import os
import sqlite3
import threading
from typing import Dict, FrozenSet, List, NamedTuple

from pipelines.errors import UserError
from pipelines.rules import attribute_reviews, attributes, catalog
from pipelines.rules import decisions as decisions_lib
from pipelines.rules.attribute_reviews import AttributeDecision
from pipelines.rules.decisions import DECISIONS, Decision

BUSY_TIMEOUT_S = 10.0

_SCHEMA = '''
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    decision TEXT NOT NULL,
    masterCategory TEXT, subCategory TEXT, articleType TEXT,
    given_class TEXT, predicted_class TEXT, flagged INTEGER NOT NULL,
    decided_by TEXT NOT NULL, decided_at TEXT NOT NULL,
    model_version TEXT NOT NULL, catalog_version TEXT NOT NULL, fingerprint TEXT NOT NULL,
    article_chosen_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS decisions_by_id ON decisions (id, seq);
CREATE INDEX IF NOT EXISTS decisions_by_reviewer ON decisions (decided_by, decided_at);
CREATE TABLE IF NOT EXISTS attribute_decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    attribute TEXT NOT NULL,
    decision TEXT NOT NULL,
    value TEXT NOT NULL, given_value TEXT NOT NULL, predicted_value TEXT NOT NULL, flagged INTEGER NOT NULL,
    decided_by TEXT NOT NULL, decided_at TEXT NOT NULL,
    model_version TEXT NOT NULL, catalog_version TEXT NOT NULL, fingerprint TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attribute_decisions_by_item ON attribute_decisions (id, attribute, seq);
'''


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


@contextlib.contextmanager
def connect(path, set_up=True):
    """A connection to the decisions database at `path`, closed on exit. With `set_up` the database is created
    on first use (its folder too), checked to be ours and brought to the current schema; a server that did that
    once at start passes set_up=False for each request."""
    if set_up:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        if set_up:
            _check_ours(connection, path)
            connection.execute('PRAGMA journal_mode=WAL')
            connection.executescript(_SCHEMA)
            _add_missing_columns(connection)
        yield connection
    finally:
        connection.close()


def _check_ours(connection, path):
    """The database's tables; UserError, before anything is written, unless `path` is empty or a reviews
    database: a file that is not SQLite (corrupt, or the wrong file) or another application's database is never
    changed."""
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        raise UserError(f'{path!r} is not a reviews database ({e}); it was left as it is') from e
    if tables and 'decisions' not in tables:
        raise UserError(f'{path!r} is another SQLite database (tables: {", ".join(sorted(tables)[:5])}), not a '
                        'reviews database; it was left as it is')
    return tables


def _add_missing_columns(connection):
    """A database from before `article_chosen_by` gets the column (empty: how its types were chosen is unknown)."""
    columns = {row[1] for row in connection.execute('PRAGMA table_info(decisions)')}
    if 'article_chosen_by' not in columns:
        try:
            connection.execute("ALTER TABLE decisions ADD COLUMN article_chosen_by TEXT NOT NULL DEFAULT ''")
        except sqlite3.OperationalError as e:  # another connection added it first
            if 'duplicate column' not in str(e):
                raise


class Stale(Exception):
    """A decision made on a view older than the item's latest decision (`latest`, with its `seq`)."""

    def __init__(self, latest, seq):
        super().__init__(f'item {latest.id} was decided again since ({latest.decision} by {latest.decided_by})')
        self.latest, self.seq = latest, seq


def record(path, decision, seen=None, set_up=True):
    """Appends one decision in its own transaction; returns its sequence number. With `seen` (the item's latest
    sequence number as the reviewer's page showed it, 0 for none), raises Stale instead when a newer decision
    exists: checked and written in one transaction, so two reviewers cannot both pass the check."""
    if decision.decision not in DECISIONS:
        raise ValueError(f'unknown decision {decision.decision!r}')
    if not catalog.is_valid_id(decision.id):
        raise ValueError(f'invalid id {decision.id!r}')
    return _append(path, 'decisions', decision, {'id': decision.id}, seen, set_up, _decision)


def record_attribute(path, decision, seen=None, set_up=True):
    """record() for an AttributeDecision: `seen` is the latest sequence number of the item's decisions on that
    attribute."""
    if decision.decision not in attribute_reviews.DECISIONS or decision.attribute not in attributes.FLAGGED:
        raise ValueError(f'unknown decision {decision.decision!r} on {decision.attribute!r}')
    if not catalog.is_valid_id(decision.id):
        raise ValueError(f'invalid id {decision.id!r}')
    return _append(path, 'attribute_decisions', decision, {'id': decision.id, 'attribute': decision.attribute},
                   seen, set_up, _attribute_decision)


def _append(path, table, decision, key, seen, set_up, read_row):
    fields = dataclasses.asdict(decision)
    where = ' AND '.join(f'{name} = ?' for name in key)
    with connect(path, set_up) as connection:
        connection.execute('BEGIN IMMEDIATE')
        if seen is not None:
            cursor = connection.execute(f'SELECT * FROM {table} WHERE {where} ORDER BY seq DESC LIMIT 1',
                                        tuple(key.values()))
            names = [c[0] for c in cursor.description]
            newest = cursor.fetchone()
            if newest is not None and newest[names.index('seq')] != seen:
                connection.execute('ROLLBACK')
                raise Stale(read_row(newest, names), newest[names.index('seq')])
        cursor = connection.execute(
            f'INSERT INTO {table} ({", ".join(fields)}) VALUES ({", ".join("?" for _ in fields)})',
            [int(v) if isinstance(v, bool) else v for v in fields.values()])
        connection.execute('COMMIT')
        return cursor.lastrowid


def latest_attributes(path):
    """{(id, attribute): the latest AttributeDecision}."""
    with connect(path) as connection:
        return latest_attributes_of(connection)[0]


def latest_attributes_of(connection, ids=None):
    """({(id, attribute): its latest AttributeDecision}, {(id, attribute): its sequence number}), for the items
    `ids` (None: all)."""
    shown = '' if ids is None else 'WHERE id IN (SELECT value FROM json_each(?))'
    cursor = connection.execute(
        f'SELECT a.* FROM attribute_decisions a JOIN (SELECT MAX(seq) AS seq FROM attribute_decisions {shown} '
        'GROUP BY id, attribute) last ON a.seq = last.seq ORDER BY a.seq',
        () if ids is None else (json.dumps(sorted(ids)),))
    names = [c[0] for c in cursor.description]
    found, seqs = {}, {}
    for row in cursor:
        decision = _attribute_decision(row, names)
        found[decision.id, decision.attribute] = decision
        seqs[decision.id, decision.attribute] = row[names.index('seq')]
    return found, seqs


def _decision(row, names, kind=Decision):
    """A row of the decisions table (of attribute_decisions, with `kind` AttributeDecision) as its dataclass."""
    values = dict(zip(names, row))
    values.pop('seq')
    values['flagged'] = bool(values['flagged'])
    return kind(**values)


def _attribute_decision(row, names):
    return _decision(row, names, AttributeDecision)


def latest(path):
    """{id: the latest Decision} (later decisions supersede earlier ones)."""
    with connect(path) as connection:
        cursor = connection.execute(
            'SELECT d.* FROM decisions d JOIN (SELECT id, MAX(seq) AS seq FROM decisions GROUP BY id) last '
            'ON d.seq = last.seq ORDER BY d.seq')
        names = [c[0] for c in cursor.description]
        return {row[names.index('id')]: _decision(row, names) for row in cursor}


class _Counted(NamedTuple):
    """The columns of a decision that decisions.Tally counts."""
    seq: int
    id: str
    decision: str
    given_class: str
    predicted_class: str
    flagged: bool
    decided_by: str
    decided_at: str
    articleType: str  # noqa: N815  (the catalog's column name)
    fingerprint: str


class Counts(NamedTuple):
    """What the review page shows of all the decisions (PageReader.read)."""
    latest: Dict[str, decisions_lib.Latest]  # each decided item's latest decision, as the queue needs it
    team: List[str]  # reviewers who decided since `since`
    decided: FrozenSet[str]  # the ids the reviewer decided
    flag_precision: list  # decisions.flag_precision of every item's latest decision
    agreement: dict  # decisions.agreement of all the decisions


def open_connection(path):
    """A connection to a database set up before (connect's set_up), for a server's request to close."""
    return sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)


class PageReader:
    """The review page's figures of all the decisions, without reading them all at each page: the decisions added
    since the last page are counted into a decisions.Tally held here (the table is append-only). A server's
    process keeps one reader for its requests."""

    def __init__(self):
        self._tally, self._lock = decisions_lib.Tally(), threading.Lock()

    def read(self, connection, reviewer, since):
        with self._lock:
            newest = connection.execute('SELECT MAX(seq) FROM decisions').fetchone()[0] or 0
            if newest < self._tally.seq:  # the database was restored from an older backup: count it afresh
                self._tally = decisions_lib.Tally()
            for row in connection.execute(f'SELECT {", ".join(_Counted._fields)} FROM decisions WHERE seq > ? '
                                          'ORDER BY seq', (self._tally.seq,)):
                counted = _Counted(*row)
                self._tally.add(counted.seq, counted._replace(flagged=bool(counted.flagged)))
            tally = self._tally
            return Counts(dict(tally.latest), tally.team(since), frozenset(tally.decided.get(reviewer, ())),
                          decisions_lib.flag_precision_of_counts(tally.flag_counts.items()), tally.agreement())


def latest_of(connection, ids):
    """({id: its latest Decision}, {id: its sequence number}) for the decided items among `ids`."""
    cursor = connection.execute(
        'SELECT d.* FROM json_each(?) shown JOIN decisions d ON d.seq = (SELECT MAX(seq) FROM decisions '
        'WHERE id = shown.value)', (json.dumps(sorted(ids)),))
    names = [c[0] for c in cursor.description]
    found, seqs = {}, {}
    for row in cursor:
        item_id = row[names.index('id')]
        found[item_id], seqs[item_id] = _decision(row, names), row[names.index('seq')]
    return found, seqs


def newest(connection, limit=None):
    """The last `limit` decisions (None: all), newest first."""
    cursor = connection.execute('SELECT * FROM decisions ORDER BY seq DESC LIMIT ?', (-1 if limit is None else limit,))
    names = [c[0] for c in cursor.description]
    return [_decision(row, names) for row in cursor]


def backup(path, dest):
    """Copies the database at `path` to `dest` with SQLite's online backup, consistent while reviewers write,
    and publishes it whole (a temporary file renamed over `dest`); returns the number of decisions copied."""
    temporary = f'{dest}.partial-{os.getpid()}'
    try:
        with connect(path) as source:
            target = sqlite3.connect(temporary)
            try:
                source.backup(target)
                count = target.execute('SELECT COUNT(*) FROM decisions').fetchone()[0]
            finally:
                target.close()
        os.replace(temporary, dest)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return count


def _serving_path(path):
    return f'{path}.serving'


def serving_pid(path):
    """The pid of a live review app serving the database at `path` (its .serving file), or None."""
    try:
        with open(_serving_path(path), encoding='ascii') as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def mark_serving(path, pid):
    """Marks the database at `path` as served by process `pid`: restore refuses while that process lives."""
    with open(_serving_path(path), 'w', encoding='ascii') as f:
        f.write(f'{pid}\n')


def unmark_serving(path):
    if os.path.exists(_serving_path(path)):
        os.remove(_serving_path(path))


@contextlib.contextmanager
def serving(path, pid):
    """mark_serving while the block runs."""
    mark_serving(path, pid)
    try:
        yield
    finally:
        unmark_serving(path)


def restore(source_path, path):
    """Replaces the database at `path` by the backup at `source_path` (checked to be a reviews database) through
    SQLite's backup API, which the live database's WAL takes as one write; returns the number of decisions."""
    source = sqlite3.connect(f'file:{os.path.abspath(source_path)}?mode=ro', uri=True)  # a backup is only read
    try:
        if 'decisions' not in _check_ours(source, source_path):
            raise UserError(f'{source_path!r} holds no decisions table: not a backup of a reviews database')
        with connect(path) as target:
            source.backup(target)
            _add_missing_columns(target)
            return target.execute('SELECT COUNT(*) FROM decisions').fetchone()[0]
    finally:
        source.close()


def latest_seq(path):
    """{id: the sequence number of its latest decision}: what a page shows, so that a decision made from it can
    be checked against newer ones (record's `seen`)."""
    with connect(path) as connection:
        return dict(connection.execute('SELECT id, MAX(seq) FROM decisions GROUP BY id'))


def history(path, limit=None):
    """Every decision, newest first (the last `limit` when given)."""
    with connect(path) as connection:
        return newest(connection, limit)

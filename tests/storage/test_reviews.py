"""The reviews database: a file that is not one is refused in one line and never written; backups taken while
reviewers write, and restores."""
import dataclasses
import hashlib
import os
import sqlite3
import threading

import pytest

from pipelines import cli
from pipelines.errors import UserError
from pipelines.rules import decisions
from pipelines.storage import reviews


def _digest(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_a_file_that_is_not_sqlite_is_refused_and_left_as_it_is(tmp_path):
    path = tmp_path / 'reviews.sqlite'
    path.write_bytes(b'these are not the decisions you are looking for\n' * 100)
    before = _digest(path)
    with pytest.raises(UserError, match='is not a reviews database'):
        reviews.latest(str(path))
    assert _digest(path) == before


def test_another_applications_database_is_refused_and_left_as_it_is(tmp_path):
    path = str(tmp_path / 'app.sqlite')
    connection = sqlite3.connect(path)
    connection.execute('CREATE TABLE users (name TEXT)')
    connection.execute("INSERT INTO users VALUES ('Ana')")
    connection.commit()
    connection.close()
    before = _digest(path)
    with pytest.raises(UserError, match='another SQLite database .*users'):
        reviews.history(path)
    assert _digest(path) == before and not (tmp_path / 'app.sqlite-wal').exists()


def test_an_empty_file_becomes_a_reviews_database(tmp_path):
    path = tmp_path / 'new.sqlite'
    path.write_bytes(b'')
    assert reviews.latest(str(path)) == {}


def test_the_cli_says_it_in_one_line_with_exit_2(tmp_path, capsys):
    state_dir = tmp_path / 'state'
    state_dir.mkdir()
    db = tmp_path / 'reviews.sqlite'
    db.write_bytes(b'\x00garbage' * 64)
    code = cli.main(['review', '--state', str(state_dir), '--db', str(db), '--export-overrides',
                     str(tmp_path / 'overrides.csv')])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and 'is not a reviews database' in error[0]


def _decision(n, by='Ana'):
    return decisions.Decision(id=str(n), decision='keep', masterCategory='A', subCategory='B', articleType='C',
                              given_class='X', predicted_class='Y', flagged=True, decided_by=by,
                              decided_at='2026-12-01T00:00:00+00:00', model_version='1', catalog_version='run',
                              fingerprint='f')


def test_a_backup_taken_while_reviewers_write_is_consistent_and_restores(tmp_path):
    db, backup = str(tmp_path / 'reviews.sqlite'), str(tmp_path / 'backup.sqlite')
    for n in range(50):
        reviews.record(db, _decision(n))
    stop = threading.Event()

    def write():
        n = 1000
        while not stop.is_set():
            reviews.record(db, _decision(n, 'Bo'))
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copied = reviews.backup(db, backup)
    finally:
        stop.set()
        writer.join()
    written = len(reviews.history(db))
    assert 50 <= copied <= written
    check = sqlite3.connect(backup)
    assert check.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    check.close()
    assert len(reviews.history(backup)) == copied
    for n in range(3):
        reviews.record(db, _decision(5000 + n, 'Cy'))
    assert reviews.restore(backup, db) == copied
    assert len(reviews.history(db)) == copied and 'Cy' not in {d.decided_by for d in reviews.history(db)}


def test_restore_refuses_what_is_not_a_backup_and_while_the_app_serves(tmp_path, capsys):
    state_dir = tmp_path / 'state'
    state_dir.mkdir()
    db, backup = str(state_dir / 'reviews.sqlite'), str(tmp_path / 'backup.sqlite')
    reviews.record(db, _decision(1))
    reviews.backup(db, backup)
    empty = tmp_path / 'empty.sqlite'
    empty.write_bytes(b'')
    with pytest.raises(UserError, match='no decisions table'):
        reviews.restore(str(empty), db)
    with open(f'{db}.serving', 'w', encoding='ascii') as f:
        f.write(f'{os.getpid()}\n')  # a live process serving it
    code = cli.main(['review', '--state', str(state_dir), '--restore', backup])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and 'stop it before --restore' in error[0]
    os.remove(f'{db}.serving')
    assert cli.main(['review', '--state', str(state_dir), '--restore', backup]) == 0
    assert cli.main(['review', '--state', str(state_dir), '--backup', str(tmp_path / 'again.sqlite')]) == 0
    assert 'backed up 1 decisions' in capsys.readouterr().out


def test_the_page_reader_counts_what_the_whole_history_gives(tmp_path):
    """PageReader counts the decisions added since its last page into a Tally; its figures equal those computed
    from every decision, as the page did before, also after more decisions and after a restore."""
    db = str(tmp_path / 'reviews.sqlite')
    kinds = [decisions.ACCEPT, decisions.KEEP, decisions.NOT_SURE, decisions.RELABEL]
    for n in range(60):
        made = _decision(n % 13, by=('Ana', 'Bo', 'Cy')[n % 3])
        made = dataclasses.replace(made, decision=kinds[n % 4], decided_at=f'2026-12-{1 + n % 6:02d}T00:00:00+00:00')
        reviews.record(db, made)
    reviews.backup(db, str(tmp_path / 'before.sqlite'))
    reader = reviews.PageReader()

    def check(reviewer, since):
        history, latest = reviews.history(db), reviews.latest(db)
        with reviews.connect(db) as connection:
            counts = reader.read(connection, reviewer, since)
            shown, seqs = reviews.latest_of(connection, ['1', '5', '99'])
            assert reviews.newest(connection, 7) == history[:7]
        assert shown == {i: latest[i] for i in ('1', '5')} and seqs == {i: reviews.latest_seq(db)[i] for i in shown}
        assert counts.latest == {i: decisions.Latest(d.decision, d.fingerprint) for i, d in latest.items()}
        assert counts.flag_precision == decisions.flag_precision(latest.values())
        assert counts.team == sorted({d.decided_by for d in history if d.decided_at >= since})
        assert counts.decided == {d.id for d in history if d.decided_by == reviewer}
        assert counts.agreement == decisions.agreement(reversed(history))
        return counts

    assert check('Bo', '2026-12-04T00:00:00+00:00').agreement['pairs'] > 0
    reviews.record(db, dataclasses.replace(_decision(5, by='Dee'), decision=decisions.RELABEL,
                                           decided_at='2026-12-07T00:00:00+00:00'))
    assert check('Dee', '2026-12-07T00:00:00+00:00').team == ['Dee']
    reviews.restore(str(tmp_path / 'before.sqlite'), db)
    assert 'Dee' not in check('Bo', '2026-12-01T00:00:00+00:00').team

"""The reviews database refuses a file that is not one, in one line, and never writes to it."""
import hashlib
import sqlite3

import pytest

from pipelines import cli
from pipelines.errors import UserError
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

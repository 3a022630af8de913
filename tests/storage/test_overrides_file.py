import pytest

from pipelines.errors import UserError
from pipelines.rules import overrides
from pipelines.storage import overrides_file


def _row(item_id, decision='relabel'):
    return {'id': item_id, 'masterCategory': 'Apparel', 'subCategory': 'Topwear', 'articleType': 'Shirts',
            'decision': decision, 'decided_by': 'ana', 'decided_at': '2026-12-06T00:00:00Z', 'fingerprint': 'f',
            'article_chosen_by': 'ana'}


def test_a_written_file_reads_back(tmp_path):
    path = str(tmp_path / 'label_overrides.csv')
    overrides_file.write(path, [_row('1'), _row('2', 'keep')])
    assert overrides_file.read(path) == {'1': _row('1'), '2': _row('2', 'keep')}


def test_a_file_that_is_not_one_is_refused_in_one_line(tmp_path):
    path = tmp_path / 'other.csv'
    path.write_text('id,label\n1,x\n')
    with pytest.raises(UserError, match='missing column'):
        overrides_file.read(str(path))
    with pytest.raises(UserError, match='cannot read --overrides'):
        overrides_file.read(str(tmp_path / 'absent.csv'))
    bad = overrides.to_csv([_row('x1'), _row('3', 'maybe')])
    with pytest.raises(UserError, match='x1, 3'):
        overrides.parse(bad, 'bad.csv')

"""Declared neighbour articleTypes: the file a catalog team keeps beside the taxonomy."""
import pytest

from pipelines.errors import UserError
from pipelines.rules import neighbours

HEADER = 'type_a,type_b,relation,declared_by,declared_on,why\n'


def test_pairs_are_unordered_and_their_version_is_their_content():
    first = neighbours.parse(HEADER + 'Tshirts,Tops,neighbours,ana,2026-12-07,used alike\n'
                             'Sandals,Flip Flops,neighbours,ana,2026-12-07,\nHeels,Flats,distinct,ana,2026-12-07,\n', 'a.csv')
    again = neighbours.parse(HEADER + '\nFlip Flops,Sandals,neighbours,bo,2026-12-08,same\nFlats,Heels,distinct,bo,,\n'
                             ' Tops , Tshirts,neighbours,bo,2026-12-08,x\n', 'b.csv')
    assert first.declared('Tops', 'Tshirts') and first.declared('Tshirts', 'Tops') and first.declared('Sandals',
                                                                                                      'Flip Flops')
    assert not first.declared('Tops', 'Shirts') and not first.declared('Tops', 'Tops')
    assert first.declared_distinct('Flats', 'Heels') and not first.declared('Flats', 'Heels')
    assert first == again and first.version.startswith('neighbours-')
    assert neighbours.parse(HEADER, 'c.csv').version != first.version
    neither = neighbours.parse(HEADER + 'Tshirts,Tops,neighbours,ana,2026-12-07,used alike\n'
                               'Sandals,Flip Flops,neighbours,ana,2026-12-07,\nHeels,Flats,neighbours,ana,2026-12-07,\n',
                               'd.csv')
    assert neither.version != first.version  # the relation is part of the content


def test_the_shipped_file_loads():
    assert isinstance(neighbours.load(), neighbours.Neighbours)


@pytest.mark.parametrize('text, problem', [
    ('a,b\nTops,Tshirts\n', 'the header must be type_a,type_b,relation,declared_by,declared_on,why'),
    ('', 'got nothing'),
    (HEADER + 'Tops,Tshirts,ana\n', 'x.csv:2: 6 fields expected, got 3'),
    (HEADER + 'Tops,Tops,neighbours,ana,2026-12-07,\n', 'x.csv:2: a pair needs two different articleTypes'),
    (HEADER + 'Tops,,neighbours,ana,2026-12-07,\n', 'a pair needs two different articleTypes'),
    (HEADER + 'Tops,Tshirts,neighbours,ana,2026-12-07,\nTshirts,Tops,distinct,bo,2026-12-08,\n',
     'x.csv:3: Tops and Tshirts are declared'),
    (HEADER + 'Tops,Tshirts,alike,ana,2026-12-07,\n', "x.csv:2: the relation must be neighbours or distinct"),
])
def test_a_malformed_file_is_refused_in_one_line(text, problem):
    with pytest.raises(UserError, match=problem):
        neighbours.parse(text, 'x.csv')


def test_a_missing_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match='cannot read the neighbours file'):
        neighbours.load(str(tmp_path / 'none.csv'))


def test_the_summaries_name_the_version_and_the_pairs():
    declared = neighbours.parse(HEADER + 'Tshirts,Tops,neighbours,ana,2026-12-07,\n', 'a.csv')
    assert declared.summary() == {'version': declared.version, 'declared': [['Tops', 'Tshirts']], 'distinct': []}
    assert neighbours.summary_line(declared.summary(), 'never flagged') == (
        f'declared neighbours ({declared.version}), never flagged: Tops / Tshirts')
    assert neighbours.summary_line(neighbours.NONE.summary(), 'never flagged') is None

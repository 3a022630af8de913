"""benchmarks/judged/sample.py: the draw is the same for its seed, verdicts land on the right ids, and the figures
follow from the judgments."""
import importlib.util
import json
import os
import shlex

import numpy as np
import pandas as pd
import pytest

from pipelines.rules import audit as audit_rules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def sample():
    spec = importlib.util.spec_from_file_location('judged_sample', os.path.join(ROOT, 'benchmarks', 'judged',
                                                                                'sample.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(items=1000, issues=300):
    """An audit table: the first `issues` items (by rank) are issues."""
    rng = np.random.default_rng(0)
    quality = np.sort(rng.random(items))
    table = pd.DataFrame({'id': [str(100 + n) for n in range(items)], 'rank': np.arange(1, items + 1),
                          'issue': np.arange(items) < issues, 'given_type': 'Tshirts',
                          'image_suggests': np.where(np.arange(items) % 2 == 0, 'Shirts', 'Tshirts'),
                          'image_given_probability': quality[::-1]})
    for ranking in audit_rules.RANKINGS:
        table[f'quality_{ranking}'] = quality
    return table


def test_the_draw_is_the_same_for_its_seed_and_keeps_its_shares(sample):
    table = _table()
    first, second = sample.draw(table), sample.draw(table.sample(frac=1, random_state=3))
    assert first == second
    draws = pd.Series(dict(first))
    assert (draws == 'top').sum() == sample.TOP and (draws == 'unflagged').sum() == sample.RANDOM_UNFLAGGED
    assert (draws == 'tail').sum() == sample.RANDOM_TAIL
    ranks = table.set_index('id')['rank']
    assert ranks[draws[draws == 'top'].index].max() == sample.TOP
    assert ranks[draws[draws == 'tail'].index].min() > sample.TOP
    assert not table.set_index('id').loc[draws[draws == 'unflagged'].index, 'issue'].any()


def test_figures_follow_from_the_judgments(sample, tmp_path):
    table = _table()
    picks = sample.draw(table)
    verdicts = {item_id: ('wrong' if int(item_id) < 150 else 'arguable' if int(item_id) < 200 else 'right')
                for item_id, _ in picks}
    unflagged = [i for i, d in picks if d == 'unflagged']
    verdicts[unflagged[0]] = 'wrong'
    judgments = pd.DataFrame({'id': list(verdicts), 'verdict': list(verdicts.values()), 'better_type': ''})
    result = sample.figures(sample.orders(table), judgments, picks)
    fused = result['rankings'][audit_rules.FUSED]
    assert fused[50] == {'judged': 50, 'missing': 0, 'wrong': 1.0, 'wrong_or_arguable': 1.0}
    assert fused[100]['wrong'] == 0.5 and fused[100]['wrong_or_arguable'] == 1.0  # ids 100-149 wrong, 150-199 arguable
    assert fused[150]['wrong'] == round(50 / 150, 3)
    assert result['unflagged']['wrong'] == 1 and result['unflagged']['judged'] == sample.RANDOM_UNFLAGGED
    assert result['draws']['top'] == {'wrong': 50, 'arguable': 50, 'right': 50, None: 0}
    low, high = result['unflagged']['wilson95']
    assert low < 0.01 < high < 0.06
    image = result['rankings'][sample.IMAGE_HEAD]
    assert image[50]['missing'] > 0  # the image head's top is not all in the sample: said, not hidden


def test_verdict_lines_are_recorded_by_id(sample, tmp_path):
    out = tmp_path / 'judged'
    out.mkdir()
    pd.DataFrame({'seq': [1, 2], 'id': ['15970', '39386']}).to_csv(out / 'order.csv', index=False)
    verdicts = tmp_path / 'verdicts.txt'
    verdicts.write_text('# a comment\n1 wrong Casual Shoes\n2 right\n')
    sample.main(['record', '--out', str(out), '--verdicts', str(verdicts)])
    judged = pd.read_csv(out / 'judgments.csv', dtype=str, keep_default_na=False)
    assert judged.to_dict('records') == [{'id': '15970', 'verdict': 'wrong', 'better_type': 'Casual Shoes'},
                                         {'id': '39386', 'verdict': 'right', 'better_type': ''}]
    verdicts.write_text('2 maybe\n')
    with pytest.raises(SystemExit, match='must be one of'):
        sample.main(['record', '--out', str(out), '--verdicts', str(verdicts)])


def test_the_overlap_pairs_and_the_nightly_flags_join_the_draw_and_give_their_figures(sample):
    table = _table()
    overlap = [{'examples_a_as_b': [{'id': '1001'}, {'id': '1002'}], 'examples_b_as_a': []},
               {'examples_a_as_b': [{'id': '1003'}], 'examples_b_as_a': [{'id': '1004'}]}]
    picks = sample.draw(table, overlap=overlap, flags=[str(2000 + n) for n in range(sample.FLAGS + 5)])
    draws = pd.Series([d for _, d in picks])
    assert [i for i, d in picks if d == 'overlap'] == ['1001', '1003', '1004']
    assert (draws == 'flags').sum() == sample.FLAGS
    verdicts = {i: 'wrong' if 2000 <= int(i) < 2030 else 'right' for i, _ in picks}
    verdicts['100'] = 'wrong'  # the list's first issue
    judgments = pd.DataFrame({'id': list(verdicts), 'verdict': list(verdicts.values()), 'better_type': ''})
    result = sample.figures(sample.orders(table), judgments, picks, issues=table.loc[table['issue'], 'id'].tolist())
    assert result['flags']['precision'] == 0.3 and result['flags']['judged'] == sample.FLAGS
    assert result['pooled_recall'] == {'wrong_judged': 31, 'in_list': 1, 'recall': round(1 / 31, 3)}


def test_the_quoted_judged_figures_are_what_their_command_computes_from_the_committed_verdicts(sample, tmp_path,
                                                                                                 monkeypatch):
    with open(os.path.join(ROOT, 'schemas', 'judged.json'), encoding='utf-8') as f:
        committed = json.load(f)
    argv = shlex.split(committed['command'])[2:]  # after "python benchmarks/judged/sample.py"
    argv[argv.index('--quote') + 1] = str(tmp_path / 'judged.json')
    monkeypatch.chdir(ROOT)
    sample.main(argv)
    with open(tmp_path / 'judged.json', encoding='utf-8') as f:
        recomputed = json.load(f)
    assert {k: v for k, v in recomputed.items() if k != 'command'} == {
        k: v for k, v in committed.items() if k != 'command'}


def test_a_nightly_s_surest_flags_on_items_it_never_trained_on_join_a_judged_folder_as_a_batch_of_their_own(
        sample, tmp_path):
    import hashlib  # pylint: disable=import-outside-toplevel
    from pipelines.rules import split  # pylint: disable=import-outside-toplevel
    hashes = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(400)]
    scores = tmp_path / 'scores'
    scores.mkdir()
    n = len(hashes)
    pd.DataFrame({'id': [str(5000 + i) for i in range(n)], 'content_hash': hashes,
                  'disagrees': [i % 3 == 0 for i in range(n)], 'disagrees_type': [i % 3 == 1 for i in range(n)],
                  'confidence': [i / n for i in range(n)], 'type_confidence': [1 - i / n for i in range(n)]}
                 ).to_parquet(scores / 'predictions-00000-of-00001.parquet')
    out = tmp_path / 'judged'
    out.mkdir()
    pd.DataFrame({'id': ['1', '2'], 'draw': ['top', 'unflagged']}).to_csv(out / 'sample.csv', index=False)
    judged = tmp_path / 'judgments.csv'
    held_out = [str(5000 + i) for i, h in enumerate(hashes) if split.assign_split(h) != 'train' and i % 3 < 2]
    pd.DataFrame({'id': held_out[:3], 'verdict': 'wrong', 'better_type': ''}).to_csv(judged, index=False)
    sample.main(['flags', '--scores', str(scores), '--out', str(out), '--judged', str(judged), '--order', 'order-2.csv'])
    drawn = pd.read_csv(out / 'sample.csv', dtype=str)
    flags = drawn.loc[drawn['draw'] == 'flags', 'id'].tolist()
    assert drawn['id'].tolist()[:2] == ['1', '2'] and len(flags) == min(sample.FLAGS, len(held_out))
    assert set(flags) <= set(held_out)  # never a train item, never an unflagged one
    sureness = {str(5000 + i): (i / n if i % 3 == 0 else 1 - i / n) for i in range(n)}
    assert [sureness[i] for i in flags] == sorted((sureness[i] for i in flags), reverse=True)
    order = pd.read_csv(out / 'order-2.csv', dtype=str)
    assert set(order['id']) == set(flags) - set(held_out[:3])

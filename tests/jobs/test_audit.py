"""The audit: out-of-sample predictions for every labelled item, by K models that never saw it, its image or its
name; swapped labels ranked first with the evidence that disagrees, ranked again without training, overrides
applied, a killed audit harmless; bad input ends in one line."""
import contextlib
import glob
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipelines import artifacts, cli
from pipelines.jobs import audit, synth
from pipelines.rules import (audit as audit_rules, catalog, changes, folds, images, judged, neighbours, noise, overlap,
                             taxonomy)
from pipelines.storage import files, overrides_file
from tests.catalog_files import read_catalog
from tests.conftest import read_examples

RATE = 0.05
TRAIN = ['--epochs', '5', '--batch-size', '8', '--bn-momentum', '0.9', '--precise-bn-steps', '20',
         '--precision', 'float32',  # the same arithmetic on every CPU
         '--without-attributes']  # the type's heads alone: the audit judges labels, and 5 short epochs are little
# The audit fits its threshold on the audited items with a tenth of them flipped: 2,000 items give that fit enough
# flips to settle, where 1,000 left it too coarse to judge the audit by (BENCHMARKS.md, issue 23).
ROWS = 2000
DUPLICATES = 12  # items whose image is byte for byte another item's


def _override(row, jpeg, donor):
    """A reviewer's relabel of `row` to `donor`'s labels, as review --export-overrides writes it."""
    labels = {name: donor[name] for name in ('masterCategory', 'subCategory', 'articleType')}
    return {'id': row['id'], **labels, 'decision': 'relabel', 'decided_by': 'test', 'decided_at': '2026-12-02',
            'fingerprint': changes.fingerprint(catalog.labels_of(row), row['productDisplayName'],
                                               images.content_hash(jpeg)),
            'article_chosen_by': 'reviewer'}


@pytest.fixture(scope='module')
def audited(tmp_path_factory):
    """A 2-fold audit of a synthetic catalog with 5% of its labels swapped and one reviewer's override:
    (output, summary, flipped {id: (true class, given class)}, the overridden id and its new class)."""
    root = tmp_path_factory.mktemp('audit')
    clean = str(root / 'clean')
    synth.run(['--output', clean, '--rows', str(ROWS), '--seed', '11'])
    styles, jpegs = read_catalog(clean)
    with_image = sorted(jpegs, key=int)
    for original, copy in zip(with_image[:DUPLICATES], with_image[-DUPLICATES:]):
        jpegs[copy] = jpegs[original]
    shipped = taxonomy.load()

    def placement(row):
        return shipped.class_of(catalog.labels_of(row), row['productDisplayName'])

    noisy_rows, flipped = noise.flip_catalog_labels(styles, shipped, RATE, seed=5)
    catalog_dir = str(root / 'noisy')
    synth.write_catalog(catalog_dir, noisy_rows, jpegs)
    placed = [r for r in noisy_rows if r['id'] in jpegs and r['id'] not in flipped
              and placement(r).label is not None and r['masterCategory'] != 'Free Items']
    target = placed[0]
    donor = next(r for r in placed if placement(r).class_name != placement(target).class_name)
    overrides_path = str(root / 'label_overrides.csv')
    overrides_file.write(overrides_path, [_override(target, jpegs[target['id']], donor)])
    new_class = placement(donor).class_name
    output = str(root / 'audit')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        summary = audit.run(['--catalog', catalog_dir, '--output', output, '--overrides', overrides_path,
                             '--keep-fold-data', *TRAIN])
    (root / 'stdout.txt').write_text(printed.getvalue())
    return output, summary, flipped, (target['id'], new_class)


def _table(output):
    return pd.read_csv(os.path.join(output, artifacts.AUDIT_CSV), dtype={'id': str})


@pytest.mark.slow  # trains two models
def test_the_audit_finds_most_swapped_labels(audited):
    output, summary, flipped, _ = audited
    table = _table(output)
    assert len(table) == summary['labelled'] and table['id'].is_unique
    swapped = table[table['id'].isin(flipped)]
    found = swapped['issue'].mean()
    # Over ~100 articleType leaves the fitted threshold is strict on these small models (0.56 of the swaps in a
    # run of 2026-12-03, at an estimated precision of 0.81); the ranking itself puts them first.
    assert len(swapped) >= 30 and found >= 0.5, (found, summary['issues'], summary['out_of_sample_accuracy'])
    ranked = table[table['rank'].notna()].sort_values('rank')
    assert ranked['id'].head(2 * len(swapped)).isin(flipped).sum() >= 0.9 * len(swapped)
    assert set(swapped['split']) == {'train', 'val', 'test'}  # seeded swaps in every split
    assert pd.read_parquet(os.path.join(output, artifacts.AUDIT_PARQUET))['id'].tolist() == table['id'].tolist()
    assert table['rank'].dropna().is_monotonic_increasing and summary['noise_per_type']
    issues = table[table['issue']]
    assert issues['evidence'].notna().all() and table.loc[~table['issue'], 'evidence'].isna().all()
    caught = issues[issues['id'].isin(flipped)]  # a swap keeps its own name: the name disagrees with the label
    assert caught['evidence'].isin(['name', 'both']).mean() >= 0.5, caught['evidence'].value_counts()
    assert (issues['suggested_type'] != issues['given_type']).all() and issues['suggested_class'].notna().all()
    assert summary['model'] == 'fused' and summary['ranking'] == audit.DEFAULT_RANKING
    assert set(summary['rankings']) == set(audit_rules.RANKINGS)
    assert 'expected_errors' not in summary and summary['precision_on_real_errors'] == judged.load()
    text = files.read_text(os.path.join(output, artifacts.SUMMARY_TEXT))
    assert 'judged blind on' in text and 'is not trusted on real errors' in text and 'own noise rate' not in text


@pytest.mark.slow
def test_no_item_is_predicted_by_a_model_that_trained_on_it(audited):
    output, summary, _, _ = audited
    table = _table(output)
    data = os.path.join(output, artifacts.AUDIT_FOLD_DATA)
    hashes = dict(zip(table['id'], table['content_hash']))
    names = {i: folds.variant_name(n) for i, n in zip(table['id'], table['name'].fillna(''))}
    for fold in range(summary['folds']):
        seen = read_examples(os.path.join(data, f'fold-{fold}'))  # what model `fold` trained, validated and audited
        trained_on = {i for i, (_, _, role) in seen.items() if role in ('train', 'val')}
        audited_ids = set(table.loc[table['fold'] == fold, 'id'])
        assert audited_ids == {i for i, (_, _, role) in seen.items() if role == 'test'}
        assert not audited_ids & trained_on
        assert not {hashes[i] for i in audited_ids} & {hashes[i] for i in trained_on}  # duplicates included
        assert not {names[i] for i in audited_ids} & {names[i] for i in trained_on} - {''}  # no twin, nor a variant
        training_run = files.read_json(os.path.join(output, artifacts.AUDIT_MODELS, f'fold-{fold}',
                                                    artifacts.TRAINING_RUN))
        assert training_run['recipe']['epochs'] == 5
    assert table['name'].map(folds.normalised_name).duplicated().sum() > 100  # the synthetic catalog repeats names
    duplicated = table[table['content_hash'].duplicated(keep=False)]
    assert duplicated['content_hash'].nunique() >= DUPLICATES // 2
    assert duplicated.groupby('content_hash')['fold'].nunique().max() == 1


@pytest.mark.slow
def test_a_rerank_ranks_the_saved_predictions_again_without_training(audited, tmp_path):
    output, summary, flipped, _ = audited
    copy = str(tmp_path / 'audit')
    shutil.copytree(output, copy)
    reranked = audit.run(['--rerank', copy, '--ranking', audit_rules.FUSED])
    table = _table(copy)
    assert reranked['ranking'] == audit_rules.FUSED and reranked['models'] == summary['models']
    assert sorted(table['id']) == sorted(_table(output)['id'])
    assert table['label_quality'].equals(table['quality_fused'])
    assert reranked['rankings'] == summary['rankings']  # every ranking's fit, whichever one ranks


@pytest.mark.slow
def test_overrides_change_the_labels_the_audit_checks(audited):
    output, summary, _, (overridden, new_class) = audited
    assert summary['overrides']['applied'] == 1
    row = _table(output).set_index('id').loc[overridden]
    assert row['given_class'] == new_class


@pytest.mark.slow
def test_a_killed_audit_leaves_the_published_audit_intact(audited):
    output, summary, _, _ = audited
    before = files.read_text(os.path.join(output, artifacts.SUMMARY))
    command = [sys.executable, '-m', 'pipelines.jobs.audit', '--catalog', summary['catalog'], '--output', output,
               *TRAIN]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, training = time.time() + 300, []
    while not training and process.poll() is None and time.time() < deadline:
        training = glob.glob(os.path.join(f'{output}.staging-*', artifacts.AUDIT_MODELS, 'fold-0',
                                          artifacts.TRAINING_LOG))
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert training, 'the audit ended before it started training'
    assert files.read_text(os.path.join(output, artifacts.SUMMARY)) == before
    assert len(_table(output)) == summary['labelled']


def _exit_and_stderr(argv, capsys):
    code = cli.main(['audit', *argv])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture(scope='module')
def small_catalog(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('small') / 'catalog')
    synth.run(['--output', path, '--rows', str(synth.MIN_ROWS), '--seed', '3'])
    return path


def test_fewer_than_two_folds_is_one_line(small_catalog, tmp_path, capsys):
    code, err = _exit_and_stderr(['--catalog', small_catalog, '--output', str(tmp_path / 'a'), '--folds', '1'], capsys)
    assert code == 2 and len(err) == 1 and 'at least 2' in err[0]


@pytest.mark.slow  # runs prepare
def test_more_folds_than_labelled_items_is_one_line(small_catalog, tmp_path, capsys):
    code, err = _exit_and_stderr(['--catalog', small_catalog, '--output', str(tmp_path / 'a'), '--folds', '100000'],
                                 capsys)
    assert code == 2 and len(err) == 1 and 'more than the' in err[0] and 'labelled items' in err[0]
    assert not os.path.exists(tmp_path / 'a')


@pytest.mark.slow  # runs prepare
def test_a_catalog_without_labelled_items_is_one_line(small_catalog, tmp_path, capsys):
    styles, jpegs = read_catalog(small_catalog)
    unlabelled = [dict(row, masterCategory='', subCategory='', articleType='') for row in styles]
    catalog_dir = str(tmp_path / 'unlabelled')
    synth.write_catalog(catalog_dir, unlabelled, jpegs)
    code, err = _exit_and_stderr(['--catalog', catalog_dir, '--output', str(tmp_path / 'a')], capsys)
    assert code == 2 and len(err) == 1 and 'no labelled items' in err[0]


def test_an_unreadable_catalog_is_one_line(tmp_path, capsys):
    catalog_dir = tmp_path / 'broken'
    (catalog_dir / 'images').mkdir(parents=True)
    (catalog_dir / 'styles.csv').write_bytes(b'\x00\xff\xfe not a csv')
    code, err = _exit_and_stderr(['--catalog', str(catalog_dir), '--output', str(tmp_path / 'a')], capsys)
    assert code == 2 and len(err) == 1, err


@pytest.mark.parametrize('flag', [['--epochz', '3'], ['--epochs', 'three'], ['--model', 'fused', '--class-weight',
                                                                              'balanced']])
def test_a_bad_train_flag_is_one_line_before_anything_runs(small_catalog, tmp_path, capsys, flag):
    code, err = _exit_and_stderr(['--catalog', small_catalog, '--output', str(tmp_path / 'a'), *flag], capsys)
    assert code == 2 and len(err) == 1 and 'a train flag' in err[0], err
    assert not os.listdir(tmp_path)  # nothing staged, nothing prepared


def test_help_says_the_train_flags_pass_through(capsys):
    with pytest.raises(SystemExit):
        audit.run(['--help'])
    assert 'Any other flag is a train flag' in ' '.join(capsys.readouterr().out.split())


@pytest.mark.slow  # the audit's fixture trains two models
def test_the_audit_prints_one_line_per_epoch_and_no_staging_path(audited):
    output = audited[0]
    printed = (Path(output).parent / 'stdout.txt').read_text().splitlines()
    logged = sum(len(pd.read_csv(os.path.join(output, artifacts.AUDIT_MODELS, f'fold-{fold}', artifacts.TRAINING_LOG)))
                 for fold in range(2))
    assert len([line for line in printed if line.startswith('epoch ')]) == logged
    assert not [line for line in printed if '.staging-' in line or line.startswith('Epoch ') or 'step -' in line]


@pytest.mark.slow
def test_the_overlap_report_is_published_with_items_each_way(audited):
    output, summary, _, _ = audited
    pairs = pd.read_csv(os.path.join(output, artifacts.AUDIT_OVERLAP))
    assert tuple(pairs.columns) == overlap.COLUMNS and len(pairs) >= 1
    assert len(summary['overlap']) == min(len(pairs), overlap.TOP_PAIRS)
    table = _table(output).set_index('id')
    for pair in summary['overlap']:
        for key, given, looks in (('examples_a_as_b', 'type_a', 'type_b'), ('examples_b_as_a', 'type_b', 'type_a')):
            shown = [e['id'] for e in pair[key]]
            assert len(shown) <= overlap.EXAMPLES
            assert (table.loc[shown, 'given_type'] == pair[given]).all()
            assert (table.loc[shown, 'top1_type'] == pair[looks]).all()
    assert not table.loc[table['neighbour_type'].notna(), 'issue'].any()
    learned = neighbours.load(os.path.join(output, artifacts.NEIGHBOURS))
    assert learned.pairs == {frozenset((p['type_a'], p['type_b'])) for p in summary['overlap'] if p['neighbours']}

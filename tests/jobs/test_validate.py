import json
import os
import shutil

import pytest
import tensorflow_data_validation as tfdv

from pipelines.errors import UserError, ValidationFailed
from pipelines.jobs import validate
from tests.sockets import beam_job_on_loopback


def _copy_catalog(src, dst, edit=None):
    shutil.copytree(src, dst)
    if edit:
        path = os.path.join(dst, 'styles.csv')
        with open(path, encoding='utf-8') as f:
            lines = f.read().split('\n')
        with open(path, 'w', encoding='utf-8') as f:
            f.write('\n'.join(edit(lines)))
    return dst


def _manifest(output):
    with open(os.path.join(output, 'manifest.json'), encoding='utf-8') as f:
        return json.load(f)


@pytest.fixture()
def validated(validated_synthetic):
    return validated_synthetic


def test_valid_catalog_report(validated):
    output, report = validated
    assert report['verdict'] == 'valid' and report['breaking'] == []
    assert report['rows_read'] == report['rows_passed'] + report['rows_quarantined']
    assert set(report['balance']) == {'masterCategory', 'subCategory', 'articleType', 'Class'}
    assert all(0 < v <= 1 for v in report['balance'].values())
    for name in ('stats.pb', 'anomalies.pbtxt', 'anomalies.txt', 'manifest.json'):
        assert os.path.exists(os.path.join(output, name)), name
    assert _manifest(output) == report


@pytest.mark.parametrize('runner_args', [
    [], pytest.param(['--direct_running_mode=multi_processing', '--direct_num_workers=2'], marks=pytest.mark.slow)],
    ids=['in-memory', 'multi-processing'])
def test_statistics_count_every_row_that_passed(tmp_path, synthetic_catalog, runner_args):
    output = str(tmp_path / 'out')
    with beam_job_on_loopback(servers=4 if runner_args else 0):  # in memory, Beam starts no server
        report = validate.run(['--catalog', synthetic_catalog, '--output', output] + runner_args)
    statistics = tfdv.load_stats_binary(os.path.join(output, 'stats.pb'))
    assert statistics.datasets[0].num_examples == report['rows_passed']
    for feature in statistics.datasets[0].features:
        common = getattr(feature, feature.WhichOneof('stats')).common_stats
        assert common.num_non_missing + common.num_missing == report['rows_passed'], feature.path


def test_new_category_value_and_drift_warn_but_do_not_break(tmp_path, synthetic_catalog, validated):
    def new_gender(lines):
        return [lines[0]] + [line.replace(',Men,', ',Robots,', 1) for line in lines[1:]]
    catalog = _copy_catalog(synthetic_catalog, str(tmp_path / 'cat'), new_gender)
    report = validate.run(['--catalog', catalog, '--output', str(tmp_path / 'out'),
                           '--baseline', os.path.join(validated[0], 'stats.pb')])
    assert report['verdict'] == 'valid'
    assert any(w.startswith('gender:') and 'Robots' in w for w in report['warnings'])
    assert any('Jensen-Shannon' in w or 'drift' in w.lower() for w in report['warnings'])


def test_type_break_is_breaking_and_still_reported(tmp_path, synthetic_catalog):
    def bad_year(lines):
        return [lines[0]] + [line.replace(',20', ',year', 1) if i % 3 == 0 else line
                             for i, line in enumerate(lines[1:])]
    catalog = _copy_catalog(synthetic_catalog, str(tmp_path / 'cat'), bad_year)
    output = str(tmp_path / 'out')
    with pytest.raises(ValidationFailed, match='year'):
        validate.run(['--catalog', catalog, '--output', output])
    assert _manifest(output)['verdict'] == 'broken'


def test_quarantine_rate_above_the_limit_breaks(tmp_path, synthetic_catalog):
    with pytest.raises(ValidationFailed, match='quarantine rate'):
        validate.run(['--catalog', synthetic_catalog, '--output', str(tmp_path / 'out'),
                      '--max-quarantine-rate', '0.001'])


def test_missing_column_and_bad_baseline_are_clear_errors(tmp_path, synthetic_catalog):
    def drop_usage(lines):
        return [','.join(line.split(',')[:8] + line.split(',')[9:]) for line in lines]
    catalog = _copy_catalog(synthetic_catalog, str(tmp_path / 'cat'), drop_usage)
    with pytest.raises(UserError, match='missing required column.*usage'):
        validate.run(['--catalog', catalog, '--output', str(tmp_path / 'out')])
    with pytest.raises(UserError, match='baseline'):
        validate.run(['--catalog', synthetic_catalog, '--output', str(tmp_path / 'out'),
                      '--baseline', str(tmp_path / 'nope.pb')])


def _unlabel_every_fifth(lines):
    """Empties articleType (and subCategory on every other one) on every fifth row: 20% unlabelled."""
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        fields = line.split(',')
        if line and i % 5 == 0 and len(fields) == 10:
            fields[4] = ''
            if i % 10 == 0:
                fields[3] = ''
        out.append(','.join(fields))
    return out


def test_unlabelled_rows_are_kept_and_reported_and_gated_only_on_request(tmp_path, synthetic_catalog, validated):
    catalog = _copy_catalog(synthetic_catalog, str(tmp_path / 'cat'), _unlabel_every_fifth)
    report = validate.run(['--catalog', catalog, '--output', str(tmp_path / 'out')])
    clean = validated[1]
    assert report['verdict'] == 'valid', report['breaking']
    assert report['rows_quarantined'] == clean['rows_quarantined'] and report['rows_passed'] == clean['rows_passed']
    assert report['rows_unlabelled'] == report['empty_label_cells']['articleType'] > 0
    assert 0 < report['empty_label_cells']['subCategory'] < report['rows_unlabelled']
    assert report['empty_label_cells']['masterCategory'] == 0
    assert report['unlabelled_rate'] == pytest.approx(report['rows_unlabelled'] / report['rows_passed'])
    assert 0.15 < report['unlabelled_rate'] < 0.25 and clean['rows_unlabelled'] == 0
    with pytest.raises(ValidationFailed, match='unlabelled rate'):
        validate.run(['--catalog', catalog, '--output', str(tmp_path / 'gated'), '--max-unlabelled-rate', '0.1'])


def _unquote_display_names(lines):
    """Kaggle's own export: the display names of lines 2-4 hold commas, unquoted (here on lines 2, 3 and 4)."""
    return [lines[0]] + [line.replace('"', '') + ', Pack of 2' if n < 3 else line
                         for n, line in enumerate(lines[1:])]


def test_lines_with_unquoted_commas_in_the_display_name_are_repaired_counted_and_kept(tmp_path, synthetic_catalog,
                                                                                      validated):
    catalog = _copy_catalog(synthetic_catalog, str(tmp_path / 'cat'), _unquote_display_names)
    report = validate.run(['--catalog', catalog, '--output', str(tmp_path / 'out')])
    clean = validated[1]
    assert report['verdict'] == 'valid', report['breaking']
    assert [line['line_number'] for line in report['repaired']['lines']] == [2, 3, 4]
    assert report['repaired']['count'] == 3 and clean['repaired']['count'] == 0
    assert report['rows_passed'] == clean['rows_passed'] and report['rows_quarantined'] == clean['rows_quarantined']

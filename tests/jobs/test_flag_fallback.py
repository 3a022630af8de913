"""A model whose flag threshold fell back to its stated rule, or is 0, says so everywhere a team looks: the
score and nightly summaries, the report, the nightly's alerts and metrics.prom."""
import json
import os

import pytest

from pipelines import artifacts
from pipelines.jobs import nightly, report, score, synth
from tests import fake_export

FALLBACK = {'fallback': 'no threshold reached precision 0.95 on injected noise (best 0.800); the threshold is the '
                        'smallest that catches 80% of the injected flips', 'max_given_probability': 0.02}


@pytest.fixture(scope='module')
def small_catalog(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('flag-fallback') / 'catalog')
    synth.run(['--output', path, '--rows', '120', '--seed', '3'])
    return path


@pytest.mark.parametrize('threshold, fit, says', [
    (0.02, FALLBACK, 'is a fallback: no threshold reached precision 0.95'),
    (0.0, FALLBACK, 'the flag threshold is 0, so no mislabel can be flagged'),
])
def test_score_and_report_say_when_the_threshold_is_a_fallback_or_zero(small_catalog, tmp_path, capsys, threshold,
                                                                        fit, says):
    export = fake_export.write(str(tmp_path / 'export'), flag_max_given_probability=threshold, flag_fit=fit)
    output = str(tmp_path / 'scores')
    summary = score.run(['--catalog', small_catalog, '--model', export.path, '--output', output])
    assert says in summary['disagreements']['warning']
    assert says in capsys.readouterr().err
    with open(os.path.join(output, artifacts.SUMMARY_TEXT), encoding='utf-8') as f:
        assert 'WARNING: the flag threshold' in f.read()
    assert says in report.scores_section(output).body


def test_a_fitted_threshold_says_nothing(small_catalog, tmp_path):
    export = fake_export.write(str(tmp_path / 'export'), flag_fit={'fallback': None})
    summary = score.run(['--catalog', small_catalog, '--model', export.path, '--output', str(tmp_path / 'scores')])
    assert summary['disagreements']['warning'] is None


@pytest.mark.slow  # a nightly run
def test_the_nightly_raises_an_alert_and_a_gauge_for_a_fallback_threshold(small_catalog, tmp_path):
    export = fake_export.write(str(tmp_path / 'export'), flag_max_given_probability=0.02, flag_fit=FALLBACK)
    state = str(tmp_path / 'state')
    summary = nightly.run(['--catalog', small_catalog, '--model', export.path, '--state', state,
                           '--allow-unblessed'])
    assert [a['figure'] for a in summary['alerts']] == ['flag_threshold']
    with open(os.path.join(state, artifacts.METRICS_PROM), encoding='utf-8') as f:
        prom = f.read()
    assert 'fashion_nightly_flag_fit_fallback 1' in prom and 'fashion_nightly_flag_threshold 0.02' in prom
    assert 'fashion_nightly_alert{figure="flag_threshold"} 1' in prom
    run_summary = os.path.join(state, 'runs', summary['run_id'], artifacts.SUMMARY)
    with open(run_summary, encoding='utf-8') as f:
        assert json.load(f)['disagreements']['fit'] == FALLBACK

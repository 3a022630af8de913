"""Night-to-night alerts and the Prometheus textfile they are published in."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pipelines.rules import alerts
from pipelines.storage import prometheus

DAY = {'quarantine_share': 0.002, 'unlabelled_share': 0.01, 'disagreements_per_1000': 4.0, 'mean_confidence': 0.95,
       'drift_warnings': 1}


def test_a_day_with_five_times_the_disagreements_raises_exactly_that_alert():
    raised = alerts.check(dict(DAY, disagreements_per_1000=20.0), DAY, alerts.Limits())
    assert [a['figure'] for a in raised] == ['disagreements_per_1000']
    assert '4.0 to 20.0' in raised[0]['message']


def test_a_same_day_or_a_first_night_raises_nothing():
    assert alerts.check(DAY, DAY, alerts.Limits()) == []
    assert alerts.check(DAY, None, alerts.Limits()) == []
    assert alerts.check(dict(DAY, disagreements_per_1000=None, mean_confidence=None), DAY, alerts.Limits()) == []


@pytest.mark.parametrize('figure, value', [('quarantine_share', 0.05), ('unlabelled_share', 0.2),
                                           ('mean_confidence', 0.8), ('drift_warnings', 3)])
def test_each_figure_beyond_its_limit_raises_its_own_alert(figure, value):
    assert [a['figure'] for a in alerts.check(dict(DAY, **{figure: value}), DAY, alerts.Limits())] == [figure]


def test_the_textfile_parses_with_prometheus_clients_parser():
    text = prometheus.textfile('fashion_nightly', [
        ('rows_read', 'Rows read.', 44446), ('last_success_timestamp_seconds', 'When.', 1795995000.25),
        ('alert', 'An alert.', 1, {'figure': 'disagreements_per_1000'}),
        ('alert', 'An alert.', 1, {'figure': 'say "hi"\\n'})])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families['fashion_nightly_rows_read'].samples[0].value == 44446
    assert families['fashion_nightly_last_success_timestamp_seconds'].samples[0].value == 1795995000.25
    assert [s.labels['figure'] for s in families['fashion_nightly_alert'].samples] == [
        'disagreements_per_1000', 'say "hi"\\n']
    assert families['fashion_nightly_alert'].type == 'gauge'
    with pytest.raises(ValueError):
        prometheus.textfile('fashion nightly', [('x', 'y', 1)])

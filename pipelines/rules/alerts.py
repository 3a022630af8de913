"""Night-to-night alerts: each nightly run's figures against the previous run's, with limits a team sets.

Beyond a limit the run still publishes; its summary lists the alerts and STATE/metrics.prom carries them, so
the team's existing alerting (Prometheus / Grafana) sees them.
"""
import dataclasses
import math

DISAGREEMENTS_FLOOR_PER_1000 = 1.0  # a night with no flags before compares as if it had this many


@dataclasses.dataclass(frozen=True)
class Limits:
    quarantine_rise: float = 0.01
    unlabelled_rise: float = 0.05
    disagreements_ratio: float = 3.0
    confidence_drop: float = 0.05
    drift_warnings_rise: int = 0


def figures(summary, validation_report):
    """The figures a night is judged by: quarantine and unlabelled shares of the catalog, new disagreements
    per 1,000 items scored this run, their mean calibrated confidence, and the drift warnings."""
    scored = summary['scored']
    return {
        'quarantine_share': summary['quarantined'] / summary['rows_read'] if summary['rows_read'] else 0.0,
        'unlabelled_share': validation_report.get('unlabelled_rate', 0.0),
        'disagreements_per_1000': 1000 * summary['disagreements']['count'] / scored if scored else None,
        'mean_confidence': summary.get('mean_confidence'),
        'drift_warnings': len(validation_report.get('warnings', [])),
    }


def standing(model):
    """Alerts that hold whatever the previous night said: a model whose flags cannot be trusted to find
    mislabels (a flag threshold of 0, or one that fell back to its stated rule)."""
    return [{'figure': 'flag_threshold', 'message': model.flag_warning}] if model.flag_warning else []


def check(now, before, limits):
    """Alert lines for the figures `now` against `before` (None on the first night: no alerts)."""
    if not before:
        return []
    alerts = []

    def known(name):
        return now.get(name) is not None and before.get(name) is not None and not math.isnan(now[name])

    if now['quarantine_share'] - before['quarantine_share'] > limits.quarantine_rise:
        alerts.append(('quarantine_share', f'quarantine share rose from {before["quarantine_share"]:.2%} to '
                                           f'{now["quarantine_share"]:.2%} (limit +{limits.quarantine_rise:.2%})'))
    if now['unlabelled_share'] - before['unlabelled_share'] > limits.unlabelled_rise:
        alerts.append(('unlabelled_share', f'unlabelled share rose from {before["unlabelled_share"]:.2%} to '
                                           f'{now["unlabelled_share"]:.2%} (limit +{limits.unlabelled_rise:.2%})'))
    if known('disagreements_per_1000') and now['disagreements_per_1000'] > limits.disagreements_ratio * max(
            before['disagreements_per_1000'], DISAGREEMENTS_FLOOR_PER_1000):
        alerts.append(('disagreements_per_1000', f'new disagreements per 1,000 items scored rose from '
                                                 f'{before["disagreements_per_1000"]:.1f} to '
                                                 f'{now["disagreements_per_1000"]:.1f} (limit '
                                                 f'{limits.disagreements_ratio:g}x)'))
    if known('mean_confidence') and before['mean_confidence'] - now['mean_confidence'] > limits.confidence_drop:
        alerts.append(('mean_confidence', f'mean calibrated confidence fell from {before["mean_confidence"]:.3f} '
                                          f'to {now["mean_confidence"]:.3f} (limit -{limits.confidence_drop})'))
    if now['drift_warnings'] - before['drift_warnings'] > limits.drift_warnings_rise:
        alerts.append(('drift_warnings', f'drift warnings rose from {before["drift_warnings"]} to '
                                         f'{now["drift_warnings"]} (limit +{limits.drift_warnings_rise})'))
    return [{'figure': figure, 'message': message} for figure, message in alerts]

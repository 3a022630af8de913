"""Temperature scaling and calibration error, on toy probabilities."""
import numpy as np
import pytest
from scipy.special import softmax

from trainer import calibration


def _overconfident(n=3000, classes=5, seed=0):
    """A toy model right 70% of the time that says 0.99 every time: deliberately over-confident."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(classes, size=n)
    predicted = np.where(rng.random(n) < 0.7, labels, (labels + rng.integers(1, classes, size=n)) % classes)
    probabilities = np.full((n, classes), 0.01 / (classes - 1))
    probabilities[np.arange(n), predicted] = 0.99
    return probabilities, labels


def test_the_temperature_lowers_nll_and_ece_of_an_overconfident_model():
    probabilities, labels = _overconfident()
    temperature = calibration.fit_temperature(probabilities, labels)
    calibrated = calibration.scale(probabilities, temperature)
    assert temperature > 1.0
    assert calibration.nll(calibrated, labels) < calibration.nll(probabilities, labels) - 0.5
    assert calibration.ece(calibrated, labels) < 0.02 < 0.25 < calibration.ece(probabilities, labels)
    assert (calibrated.argmax(axis=1) == probabilities.argmax(axis=1)).all()


def test_scale_is_softmax_of_log_probabilities_over_t_and_sums_to_one():
    p = softmax(np.random.default_rng(1).normal(size=(10, 4)) * 3, axis=1)
    assert np.allclose(calibration.scale(p, 2.0), softmax(np.log(p) / 2.0, axis=1))
    assert np.allclose(calibration.scale(p, 2.0).sum(axis=1), 1.0)
    assert np.allclose(calibration.scale(p, 1.0), p)


def test_reliability_bins_and_risk_coverage():
    probabilities, labels = _overconfident()
    table = calibration.reliability(probabilities, labels)
    assert len(table) == calibration.ECE_BINS and sum(b['count'] for b in table) == len(labels)
    assert table[-1]['confidence'] == pytest.approx(0.99) and table[-1]['accuracy'] == pytest.approx(0.7, abs=0.03)
    curve = calibration.risk_coverage(probabilities, labels, thresholds=[0.0, 0.995])
    assert curve[0] == {'threshold': 0.0, 'coverage': 1.0, 'accuracy': pytest.approx(0.7, abs=0.03)}
    assert curve[1]['coverage'] == 0.0 and curve[1]['accuracy'] is None

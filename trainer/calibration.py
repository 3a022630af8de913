"""Calibrated confidence and a measured mislabel flag, both fitted on the val split after training.

- Temperature scaling (Guo et al. 2017): one scalar T, fitted by minimising the val split's negative log
  likelihood; served probabilities are softmax(log p / T). It changes no prediction, only how sure they are.
- Expected calibration error over 15 equal-width confidence bins, a reliability table and a risk-coverage
  curve, so a catalog team can see what a confidence threshold buys.
- The flag's threshold on the calibrated probability of the given class is fitted on the val split by
  pipelines/rules/flag_fit.py (the audit fits its own the same way).
"""
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import softmax


ECE_BINS = 15
_TINY = 1e-12


def scale(probabilities, temperature):
    """softmax(log p / T): what the export serves."""
    return softmax(np.log(np.clip(probabilities, _TINY, 1.0)) / temperature, axis=1)


def nll(probabilities, labels):
    return float(-np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], _TINY, 1.0))))


def fit_temperature(probabilities, labels):
    """The T > 0 that minimises the NLL of scale(probabilities, T) (searched over log T in [-3, 3])."""
    result = minimize_scalar(lambda log_t: nll(scale(probabilities, np.exp(log_t)), labels),
                             bounds=(-3.0, 3.0), method='bounded')
    return float(np.exp(result.x))


def reliability(probabilities, labels, bins=ECE_BINS):
    """Per equal-width confidence bin: its range, item count, mean confidence and accuracy."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    table = []
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        count = int(inside.sum())
        table.append({'low': float(low), 'high': float(high), 'count': count,
                      'confidence': float(confidence[inside].mean()) if count else None,
                      'accuracy': float(correct[inside].mean()) if count else None})
    return table


def ece(probabilities, labels, bins=ECE_BINS):
    """Expected calibration error: the count-weighted gap between confidence and accuracy over the bins."""
    total = len(labels)
    return float(sum(b['count'] / total * abs(b['accuracy'] - b['confidence'])
                     for b in reliability(probabilities, labels, bins) if b['count']))


def risk_coverage(probabilities, labels, thresholds=np.round(np.arange(0.0, 1.0, 0.05), 2)):
    """For each confidence threshold: the share of items kept (confidence >= threshold) and their accuracy."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    curve = []
    for threshold in thresholds:
        kept = confidence >= threshold
        curve.append({'threshold': float(threshold), 'coverage': float(kept.mean()),
                      'accuracy': float(correct[kept].mean()) if kept.any() else None})
    return curve

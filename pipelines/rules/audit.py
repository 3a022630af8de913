"""The audit's ranking of out-of-sample probabilities: which given labels look wrong, and how noisy each class is.

Two rules find issues, both over calibrated probabilities that a model gave items it never trained on:
- `cleanlab`: confident learning (Northcutt et al. 2021) with the field's standard implementation:
  cleanlab's `find_label_issues` (prune by noise rate, from the confident joint) and its label-quality
  score (the given class's self-confidence);
- `threshold`: the project's flag rule (rules/predictions.flags_mislabel without the confidence knob): the
  model predicts another class and gives the given class at most a threshold, fitted on these probabilities
  as the nightly model's threshold is fitted on val (trainer/calibration.fit_flag_threshold).
Either way items are ranked by the label-quality score, lowest (most suspicious) first.
"""
import warnings

import numpy as np

CLEANLAB, THRESHOLD = 'cleanlab', 'threshold'
METHODS = (CLEANLAB, THRESHOLD)
TOP_K = 3

AUDIT_COLUMNS = ('id', 'given_class', 'split', 'fold', *(f'top{k}_{field}' for k in range(1, TOP_K + 1)
                                                         for field in ('class', 'probability')),
                 'given_class_probability', 'label_quality', 'issue', 'cleanlab_issue', 'threshold_issue', 'rank',
                 'content_hash')


def cleanlab_issues(labels, probabilities):
    """(issue mask, label-quality scores) by cleanlab: find_label_issues pruned by noise rate, and the
    self-confidence score."""
    from cleanlab import filter as cl_filter, rank  # pylint: disable=import-outside-toplevel  (only the audit)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # classes without items: the audit lists those itself
        issues = cl_filter.find_label_issues(labels, probabilities, filter_by='prune_by_noise_rate', n_jobs=1)
        quality = rank.get_label_quality_scores(labels, probabilities, method='self_confidence')
    return np.asarray(issues, bool), np.asarray(quality, float)


def threshold_issues(labels, probabilities, max_given_probability):
    """The project's rule: another class predicted, and the given class's probability at most the threshold."""
    own = probabilities[np.arange(len(labels)), labels]
    return (probabilities.argmax(axis=1) != labels) & (own <= max_given_probability)


def noise_per_class(labels, probabilities, classes):
    """{class: estimated share of its given labels that are wrong}, from cleanlab's calibrated confident joint
    (rows: given class, columns: true class); None for a class without items."""
    from cleanlab import count  # pylint: disable=import-outside-toplevel
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        joint = count.estimate_joint(labels, probabilities)
    present = np.bincount(labels, minlength=len(classes)) > 0
    rates = {}
    for index, name in enumerate(classes):
        total = joint[index].sum()
        rates[name] = round(float(1.0 - joint[index, index] / total), 5) if present[index] and total > 0 else None
    return rates


def ranks(quality):
    """1-based rank of each item by label quality, lowest first (ties by position)."""
    order = np.argsort(quality, kind='stable')
    ranked = np.empty(len(quality), int)
    ranked[order] = np.arange(1, len(quality) + 1)
    return ranked


def top_classes(probabilities, classes, k=TOP_K):
    """Per item, [(class, probability)] of its k most probable classes."""
    top = np.argsort(-probabilities, axis=1, kind='stable')[:, :k]
    return [[(classes[j], float(row[j])) for j in indices] for row, indices in zip(probabilities, top)]


def precision_recall(found, truth):
    """(precision, recall) of a boolean `found` against boolean `truth`; None where undefined."""
    hits = int((found & truth).sum())
    return (round(hits / int(found.sum()), 4) if found.sum() else None,
            round(hits / int(truth.sum()), 4) if truth.sum() else None)

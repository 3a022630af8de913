"""The audit's ranking: cleanlab's issues and the project's threshold rule on out-of-sample probabilities."""
import numpy as np

from pipelines.rules import audit


def _noisy(seed=0, items=600, classes=4, flips=30):
    """Confident, mostly right probabilities; `flips` items whose given label was changed."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, items)
    probabilities = rng.dirichlet(np.ones(classes) * 0.3, items) * 0.2
    probabilities[np.arange(items), truth] += 0.8
    probabilities = np.pad(probabilities, ((0, 0), (0, 1)))  # a class no item has
    given = truth.copy()
    flipped = rng.choice(items, flips, replace=False)
    given[flipped] = (truth[flipped] + 1) % classes
    mask = np.zeros(items, bool)
    mask[flipped] = True
    return given, probabilities, mask


def test_cleanlab_finds_the_flipped_labels_and_scores_them_lowest():
    given, probabilities, flipped = _noisy()
    issues, quality = audit.cleanlab_issues(given, probabilities)
    precision, recall = audit.precision_recall(issues, flipped)
    assert precision >= 0.9 and recall >= 0.6  # cleanlab prunes only as many as it estimates
    ranked = audit.ranks(quality)
    assert set(np.flatnonzero(ranked <= flipped.sum())) == set(np.flatnonzero(flipped))


def test_threshold_rule_flags_only_disagreements_under_the_threshold():
    given = np.array([0, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert audit.threshold_issues(given, probabilities, 0.3).tolist() == [False, True, False]
    assert audit.threshold_issues(given, probabilities, 0.5).tolist() == [False, True, True]


def test_noise_per_class_is_high_where_labels_were_flipped_and_none_without_items():
    given, probabilities, _ = _noisy(items=800, flips=0)
    given[np.flatnonzero(given == 1)[::2]] = 0  # half of class 1's items now say class 0
    rates = audit.noise_per_class(given, probabilities, ['a', 'b', 'c', 'd', 'e'])
    assert rates['e'] is None
    assert rates['a'] > 0.1 and max(rates['b'], rates['c'], rates['d']) < 0.02  # cleanlab's estimate is cautious


def test_ranks_and_top_classes():
    assert audit.ranks(np.array([0.5, 0.1, 0.9])).tolist() == [2, 1, 3]
    top = audit.top_classes(np.array([[0.2, 0.7, 0.1]]), ['a', 'b', 'c'], k=2)
    assert top == [[('b', 0.7), ('a', 0.2)]]
    assert audit.precision_recall(np.array([True, False]), np.array([False, False])) == (0.0, None)

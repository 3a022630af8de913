"""The flag threshold's fit and the own-rate estimate, on toy probabilities."""
import numpy as np
import pytest

from pipelines.rules import flag_fit


def test_the_flag_threshold_is_fitted_to_the_target_precision_on_injected_noise():
    rng = np.random.default_rng(2)
    labels = rng.integers(6, size=4000)
    # a model right 95% of the time, with a clear margin when right
    predicted = np.where(rng.random(4000) < 0.95, labels, (labels + 1) % 6)
    probabilities = np.full((4000, 6), 0.004)
    probabilities[np.arange(4000), predicted] = 0.98
    fit = flag_fit.fit_flag_threshold(probabilities, labels, ['a', 'a', 'a', 'b', 'b', 'b'], precision=0.6)
    assert fit['max_given_probability'] == pytest.approx(0.004)
    assert fit['precision'] >= 0.6 and fit['recall'] > 0.9 and fit['noise_rate'] == flag_fit.FLAG_FIT_NOISE_RATE


def _noisy_catalog_predictions(seed=3, n=6000, own_noise=0.05):
    """Given labels of which `own_noise` are wrong (the model is sure of the true class there), and a model
    right 96% of the time that, when wrong, still gives the given class a real share (a confusable pair)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(6, size=n)
    given = np.where(rng.random(n) < own_noise, (true + 2) % 6, true)
    predicted = np.where(rng.random(n) < 0.96, true, (true + 1) % 6)
    probabilities = np.full((n, 6), 0.002)
    probabilities[np.arange(n), predicted] = 0.99
    confused = predicted != true
    probabilities[confused, true[confused]] = 0.2
    probabilities[confused, predicted[confused]] = 0.79
    return given, true, probabilities / probabilities.sum(axis=1, keepdims=True)


def test_a_split_that_is_already_noisy_still_gets_a_threshold_that_flags_its_mislabels():
    given, true, probabilities = _noisy_catalog_predictions()
    fit = flag_fit.fit_flag_threshold(probabilities, given, ['a', 'a', 'a', 'b', 'b', 'b'])
    assert fit['fallback'] is None and fit['max_given_probability'] > 0
    assert fit['own_noise_rate'] == pytest.approx(0.05, abs=0.015)
    assert fit['precision'] < flag_fit.FLAG_FIT_PRECISION <= fit['corrected_precision']  # the old fit gave 0
    own = probabilities[np.arange(len(given)), given]
    flagged = (probabilities.argmax(axis=1) != given) & (own <= fit['max_given_probability'])
    wrong = given != true
    assert (flagged & wrong).sum() / flagged.sum() > 0.95 and (flagged & wrong).sum() / wrong.sum() > 0.9


def test_a_target_no_threshold_reaches_falls_back_to_a_stated_recall_and_says_so():
    given, _, probabilities = _noisy_catalog_predictions()
    fit = flag_fit.fit_flag_threshold(probabilities, given, ['a', 'a', 'a', 'b', 'b', 'b'], precision=1.01)
    assert fit['fallback'] and 'no threshold reached precision 1.01' in fit['fallback']
    assert fit['max_given_probability'] > 0 and fit['recall'] >= flag_fit.FLAG_FIT_FALLBACK_RECALL


def test_a_model_that_never_disagrees_can_flag_nothing_and_says_so():
    labels = np.arange(60) % 6
    probabilities = np.full((60, 6), 0.01)
    probabilities[np.arange(60), labels] = 0.95
    fit = flag_fit.fit_flag_threshold(probabilities, labels, ['a', 'a', 'a', 'b', 'b', 'b'], rate=0.0)
    assert fit['max_given_probability'] == 0.0 and 'nothing can be flagged' in fit['fallback']


def _catalog_with_known_noise(rate, items=20000, classes=20, seed=1):
    """Simulated out-of-sample probabilities of a model about as accurate as the audit's (0.95), and given labels
    of which a share `rate` is wrong: (probabilities, given, wrong)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, items)
    logits = rng.normal(0.0, 1.0, (items, classes))
    logits[np.arange(items), truth] += rng.normal(5.0, 1.5, items)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given, wrong = truth.copy(), rng.random(items) < rate
    given[wrong] = (truth[wrong] + rng.integers(1, classes, int(wrong.sum()))) % classes
    return probabilities, given, wrong


@pytest.mark.parametrize('rate', [0.02, 0.05])
def test_the_precision_estimated_at_the_catalogs_own_noise_rate_is_close_to_the_truth(rate):
    probabilities, given, wrong = _catalog_with_known_noise(rate)
    fit = flag_fit.fit_flag_threshold(probabilities, given, [c % 4 for c in range(20)])
    flagged = ((probabilities.argmax(axis=1) != given)
               & (probabilities[np.arange(len(given)), given] <= fit['max_given_probability']))
    true_precision = wrong[flagged].mean()
    assert abs(fit['own_rate_precision'] - true_precision) < 0.1, (fit, true_precision)
    low, high = fit['own_noise_rate_interval']
    assert low <= wrong.mean() * 1.25 and high >= wrong.mean() * 0.75
    assert fit['own_rate_precision_interval'][0] <= fit['own_rate_precision'] <= fit['own_rate_precision_interval'][1]
    if rate == 0.02:  # at the injected 10% the same threshold reads far better than it is
        assert fit['corrected_precision'] - true_precision > 0.1


def test_a_fit_over_one_kind_of_flag_takes_the_own_noise_rate_it_is_given_and_can_flag_nothing():
    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]] * 25)
    labels = np.array([0, 0, 1, 1] * 25)
    nothing = flag_fit.fit_flag_threshold(probabilities, labels, ['a', 'b'], eligible=lambda given: given < 0,
                                          fall_back=False, own_noise_rate=0.0)
    assert nothing['own_noise_rate'] == 0.0 and nothing['max_given_probability'] == 0.0 and nothing['fallback']
    every = flag_fit.fit_flag_threshold(probabilities, labels, ['a', 'b'], own_noise_rate=0.0)
    assert every['own_noise_rate'] == 0.0 and every['max_given_probability'] > 0.0

"""The mislabel flag's threshold on the calibrated probability of the given label (cleanlab's self-confidence,
Northcutt et al.): fitted with seeded injected label noise, never on test, crediting the items' own mislabels;
and the flag's precision estimated at the items' own noise rate. Plain NumPy: the trainer fits the exports'
thresholds on the val split with it, the audit its rankings' thresholds on the audited items."""
import numpy as np

from pipelines.rules import noise

FLAG_FIT_NOISE_RATE = 0.10
FLAG_FIT_PRECISION = 0.95
FLAG_FIT_SEED = 20261129
FLAG_FIT_SURE_RECALL = 0.5  # the surer half of the injected flips: where the items' own noise is estimated
FLAG_FIT_FALLBACK_RECALL = 0.8  # the fallback's share of injected flips caught
OWN_RATE_RESAMPLES = 200  # the bootstrap behind the own-rate estimate's intervals
_TINY = 1e-12


def _flag_counts(own, disagree, flipped):
    """For each threshold at which the rule's outcome changes (the given class's probability of a disagreeing
    item): the injected flips it flags and the other items it flags."""
    thresholds = np.unique(own[disagree])
    order = np.argsort(own[disagree], kind='stable')
    sorted_own, sorted_flipped = own[disagree][order], flipped[disagree][order]
    upto = np.searchsorted(sorted_own, thresholds, side='right')  # items flagged at each threshold
    hits = np.concatenate([[0], np.cumsum(sorted_flipped)])[upto]
    return thresholds, hits, upto - hits


def fit_flag_threshold(probabilities, labels, groups, precision=FLAG_FIT_PRECISION, rate=FLAG_FIT_NOISE_RATE,
                       seed=FLAG_FIT_SEED, within_group=False, eligible=None, fall_back=True, own_noise_rate=None):
    """The largest threshold on the given class's calibrated probability at which the flags reach `precision`
    on these items after a seeded `rate` of them take another item's labels (noise.flip_labels), counting the
    items' own mislabels as the right flags they are.

    The items already hold mislabels of their own, which the surest flags find first. Counted as false, they
    would keep precision below the target on any noisy catalog (the fit then fell to 0: no flags at all). So
    the own noise among the items not flipped is estimated where flags are surest: at the threshold that
    catches the surer half of the injected flips, the other flags are taken to be own mislabels, caught at the
    same rate (`own_noise_rate`); at each threshold that many are credited (never more than were flagged).
    When no threshold reaches `precision`, the fit falls back to the smallest threshold that catches
    FLAG_FIT_FALLBACK_RECALL of the injected flips (recall is not affected by the items' own noise), and says
    so (`fallback`). `groups` names each class index's group (masterCategory). With `within_group` (the
    articleType flag, groups = each leaf's Class) the injected flips stay in their group and only a
    prediction in the given label's group counts as a disagreement: the flag for a wrong type in a right
    Class. `eligible` (given labels -> a mask) narrows the flags to the items it marks under the noisy labels:
    a fit for one kind of flag only, such as those one modality's evidence raises; such a kind catches too few
    flips for its own estimate of the items' own noise, so it takes the whole flag's (`own_noise_rate`).
    Without `fall_back`, a fit that reaches `precision` nowhere flags nothing (threshold 0). Returns a dict."""
    donors = noise.flip_labels(labels, [groups[y] for y in labels], rate, seed, within_group)
    given = np.array(labels).copy()
    for index, donor in donors.items():
        given[index] = labels[donor]
    flipped = np.zeros(len(labels), bool)
    flipped[list(donors)] = True
    own = probabilities[np.arange(len(given)), given]
    predicted = probabilities.argmax(axis=1)
    disagree = predicted != given
    if within_group:
        disagree &= np.array([groups[p] == groups[g] for p, g in zip(predicted, given)], bool)
    if eligible is not None:
        disagree &= eligible(given)
    thresholds, hits, others = _flag_counts(own, disagree, flipped)
    recall = hits / max(flipped.sum(), 1)
    unflipped = len(labels) - int(flipped.sum())
    sure = np.flatnonzero(recall >= FLAG_FIT_SURE_RECALL)
    at = sure[0] if len(sure) else len(thresholds) - 1
    if own_noise_rate is None:
        own_noise_rate = (float(min(1.0, others[at] / (unflipped * recall[at]))) if len(thresholds) and recall[at]
                          else 0.0)
    credited = np.minimum(others, own_noise_rate * unflipped * recall)
    flagged = hits + others
    corrected = np.divide(hits + credited, flagged, out=np.zeros(len(flagged)), where=flagged > 0)
    fit = {'fitted_on_items': len(labels), 'noise_rate': rate, 'target_precision': precision, 'seed': seed,
           'own_noise_rate': round(own_noise_rate, 5), 'fallback': None}
    meeting = np.flatnonzero(corrected >= precision)
    if len(meeting):
        best = meeting[-1]
    elif not fall_back or not len(thresholds):
        why = (f'no threshold reached precision {precision} on injected noise: nothing is flagged' if len(thresholds)
               else 'the model disagreed with no given label: nothing can be flagged')
        return dict(fit, fallback=why, max_given_probability=0.0, precision=None, corrected_precision=None,
                    recall=0.0, own_rate_precision=None, own_rate_precision_interval=None,
                    own_noise_rate_interval=None)
    else:
        reaching = np.flatnonzero(recall >= FLAG_FIT_FALLBACK_RECALL)
        best = reaching[0] if len(reaching) else len(thresholds) - 1
        fit['fallback'] = (f'no threshold reached precision {precision} on injected noise (best '
                           f'{corrected.max() if len(corrected) else 0:.3f}); the threshold is the smallest that '
                           f'catches {FLAG_FIT_FALLBACK_RECALL:.0%} of the injected flips')
    estimate = own_rate_estimate(flipped, disagree & (own <= thresholds[at]), disagree & (own <= thresholds[best]),
                                 seed)
    return dict(fit, max_given_probability=float(thresholds[best]),
                precision=round(float(hits[best] / flagged[best]), 4) if flagged[best] else None,
                corrected_precision=round(float(corrected[best]), 4), recall=round(float(recall[best]), 4),
                **estimate)


def _own_rate(weights, flipped, sure, flagged):
    """(own noise rate, precision at that rate) for each row of item weights (see own_rate_estimate)."""
    flips, unflipped = weights @ flipped, weights @ ~flipped
    sure_recall = (weights @ (sure & flipped)) / np.maximum(flips, _TINY)
    rate = np.minimum(1.0, (weights @ (sure & ~flipped)) / np.maximum(unflipped * sure_recall, _TINY))
    recall = (weights @ (flagged & flipped)) / np.maximum(flips, _TINY)
    false_rate = (weights @ (flagged & ~flipped)) / np.maximum(unflipped, _TINY)
    precision = np.where(false_rate > 0, np.minimum(1.0, rate * recall / np.maximum(false_rate, _TINY)), 1.0)
    return rate, precision


def _interval(values):
    return [round(float(v), 5) for v in np.percentile(values, [2.5, 97.5])]


def own_rate_estimate(flipped, sure, flagged, seed=FLAG_FIT_SEED, resamples=OWN_RATE_RESAMPLES):
    """The flag's precision on the items as they are, at their own noise rate, not at the injected one.

    Among the items not flipped, a share `rate` is mislabelled (estimated at the sure threshold, as the fit
    does); the threshold catches a share `recall` of the injected flips and flags a share `f` of the items not
    flipped. On the catalog as it is, the flags then hold rate * recall right ones per item flagged at rate f:
    precision = rate * recall / f. This assumes the catalog's own mislabels are as easy to catch as the
    injected ones (the judged sample in BENCHMARKS.md says how far that holds). The 95% intervals come from a
    Poisson bootstrap over the items, with the thresholds held fixed."""
    flipped, sure, flagged = (np.asarray(a, bool) for a in (flipped, sure, flagged))
    rate, precision = _own_rate(np.ones((1, len(flipped))), flipped, sure, flagged)
    weights = np.random.default_rng(seed).poisson(1.0, (resamples, len(flipped))).astype(np.float64)
    rates, precisions = _own_rate(weights, flipped, sure, flagged)
    return {'own_rate_precision': round(float(precision[0]), 4),
            'own_rate_precision_interval': _interval(precisions), 'own_noise_rate_interval': _interval(rates),
            'own_rate_flag_share': round(float(flagged[~flipped].mean()), 5) if (~flipped).any() else None}

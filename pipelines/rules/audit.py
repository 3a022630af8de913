"""The audit's ranking of out-of-sample predictions: which given labels look wrong, which evidence says so, what
to put instead, and how noisy each articleType is.

Each fold's model predicts articleType leaves (rules/leaves.py) with three heads: the fused one (image and name),
the image alone and the name alone. The folds' leaves differ a little (a type rare in one fold is an other leaf
there), so every fold's probabilities are laid out over the union of the folds' leaves (`widen`), a leaf missing
from a fold at 0. An image-only model's Classes stand in for leaves (`class_leaves`), with the fused head only.

A ranking turns the heads into one score matrix whose given-label entry is the label's quality (lowest first):
- `fused`: the fused head;
- `agreement`: the larger of the image's and the name's probability, low only where both find the label
  unlikely;
- `flips`: the fused head averaged with its opinion of the mirrored image (test-time flips);
- `ensemble`: the heads averaged, each weighted by its accuracy against the given labels: cleanlab's
  `get_label_quality_ensemble_scores` (self-confidence, weighted by accuracy) as one matrix, so that the
  threshold can be fitted on it.
A label is scored at the level the model knows it (`others_at_class_level`): its articleType's leaf, or for an
item of a type outside the leaves (a rare type, a relabelled Free Gift) its whole Class. An issue is a label
the scored matrix puts another leaf before, with a quality at most the threshold fitted on that matrix with
injected flips (trainer/calibration.fit_flag_threshold), or one cleanlab's `find_label_issues` prunes. The evidence of an issue names the single-modality heads that disagree on their own: they put another
leaf first and give the label at most EVIDENCE_MAX_GIVEN (`image`, `name`, `both`; neither: `combined`).
"""
import warnings

import numpy as np

from pipelines.rules import leaves as leaves_lib, predictions

CLEANLAB, THRESHOLD = 'cleanlab', 'threshold'
METHODS = (CLEANLAB, THRESHOLD)
FUSED, IMAGE, NAME, FLIPPED = 'fused', 'image_only', 'name_only', 'fused_flipped'
HEADS = (FUSED, IMAGE, NAME)
AGREEMENT, FLIPS, ENSEMBLE = 'agreement', 'flips', 'ensemble'
RANKINGS = (FUSED, AGREEMENT, FLIPS, ENSEMBLE)
EVIDENCE_MAX_GIVEN = 0.1
TOP_K = 3

GIVEN = ('given_master', 'given_sub', 'given_type', 'given_class')
SUGGESTED = ('suggested_master', 'suggested_sub', 'suggested_type', 'suggested_class')
AUDIT_COLUMNS = ('id', *GIVEN, 'name', 'split', 'fold', 'rank', 'issue', 'evidence', *SUGGESTED,
                 'suggested_probability', 'given_probability', 'image_given_probability', 'name_given_probability',
                 'image_suggests', 'name_suggests', 'label_quality', *(f'quality_{r}' for r in RANKINGS),
                 *(f'top{k}_{field}' for k in range(1, TOP_K + 1) for field in ('type', 'probability')),
                 'cleanlab_issue', 'threshold_issue', 'type_known', 'group', 'content_hash')


def class_leaves(classes, master_of):
    """An image-only model's Classes as leaves: each its own type, under its masterCategory."""
    classes = tuple(classes)
    return leaves_lib.Leaves(article_types=classes, master_categories=tuple(master_of[c] for c in classes),
                             sub_categories=classes, class_names=classes, classes=classes)


def union_leaves(fold_leaves):
    """The leaves of every fold, in first-seen order: (names, {name: (master, sub, Class)})."""
    parents = {}
    for leaves in fold_leaves:
        for row in zip(leaves.article_types, leaves.master_categories, leaves.sub_categories, leaves.class_names):
            parents.setdefault(row[0], row[1:])
    return tuple(parents), parents


def widen(probabilities, fold_names, union_names):
    """[n, fold leaves] -> [n, union leaves], a leaf the fold lacks at 0."""
    index = {name: i for i, name in enumerate(union_names)}
    wide = np.zeros((len(probabilities), len(union_names)))
    wide[:, [index[name] for name in fold_names]] = probabilities
    return wide


def ensemble_weights(heads, given):
    """Each head's weight: its accuracy against the given labels, normalised (cleanlab's 'accuracy' weighting)."""
    accuracy = np.array([np.mean(heads[h].argmax(axis=1) == given) for h in heads])
    return dict(zip(heads, accuracy / accuracy.sum()))


def ranking_matrix(heads, given, ranking):
    """The score matrix of a ranking (module docstring); a ranking whose heads are missing is the fused head."""
    if ranking == AGREEMENT and IMAGE in heads and NAME in heads:
        return np.maximum(heads[IMAGE], heads[NAME])
    if ranking == FLIPS and FLIPPED in heads:
        return (heads[FUSED] + heads[FLIPPED]) / 2
    if ranking == ENSEMBLE and IMAGE in heads and NAME in heads:
        members = {h: heads[h] for h in HEADS}
        return sum(weight * members[h] for h, weight in ensemble_weights(members, given).items())
    return heads[FUSED]


def others_at_class_level(matrix, names, leaf_classes):
    """The matrix a label is scored on: an other leaf's column holds its whole Class's probability, so that an
    item whose articleType the model does not know (a rare type, a relabelled Free Gift) is judged by its Class
    alone, as the nightly never type-flags it; a known type keeps its own leaf's probability."""
    scored = np.array(matrix, dtype=float, copy=True)
    classes = np.asarray(leaf_classes)
    for j, name in enumerate(names):
        if name.startswith(leaves_lib.OTHER):
            scored[:, j] = np.asarray(matrix)[:, classes == classes[j]].sum(axis=1)
    return scored


def given_quality(matrix, given):
    return matrix[np.arange(len(given)), given]


def disagrees(probabilities, given, max_given=EVIDENCE_MAX_GIVEN):
    """Whether a head on its own disagrees: another leaf first, and the label at most `max_given`."""
    return (probabilities.argmax(axis=1) != given) & (given_quality(probabilities, given) <= max_given)


def evidence(heads, given):
    """Per item: which single-modality evidence disagrees with the label (rules/predictions.evidence), or None
    for a model without modality heads."""
    if IMAGE not in heads or NAME not in heads:
        return [None] * len(given)
    return [predictions.evidence(bool(i), bool(n))
            for i, n in zip(disagrees(heads[IMAGE], given), disagrees(heads[NAME], given))]


def threshold_issues(matrix, given, max_given_probability):
    """Another leaf first, and the label's score at most the threshold."""
    return (matrix.argmax(axis=1) != given) & (given_quality(matrix, given) <= max_given_probability)


def cleanlab_issues(matrix, given):
    """cleanlab's find_label_issues (prune by noise rate) over the row-normalised score matrix."""
    from cleanlab import filter as cl_filter  # pylint: disable=import-outside-toplevel  (only the audit)
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # leaves without items: the audit lists classes it could not audit
        return np.asarray(cl_filter.find_label_issues(given, normalised, filter_by='prune_by_noise_rate', n_jobs=1),
                          bool)


def noise_per_leaf(given, matrix, names):
    """{leaf: estimated share of its given labels that are wrong}, from cleanlab's calibrated confident joint
    (rows: given, columns: true); None for a leaf without items."""
    from cleanlab import count  # pylint: disable=import-outside-toplevel
    normalised = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        joint = count.estimate_joint(given, normalised)
    present = np.bincount(given, minlength=len(names)) > 0
    return {name: round(float(1.0 - joint[i, i] / joint[i].sum()), 5) if present[i] and joint[i].sum() > 0 else None
            for i, name in enumerate(names)}


def ranks(quality):
    """1-based rank of each item by label quality, lowest first (ties by position)."""
    order = np.argsort(quality, kind='stable')
    ranked = np.empty(len(quality), int)
    ranked[order] = np.arange(1, len(quality) + 1)
    return ranked


def top_leaves(matrix, names, k=TOP_K):
    """Per item, [(leaf, score)] of its k highest leaves."""
    top = np.argsort(-matrix, axis=1, kind='stable')[:, :k]
    return [[(names[j], float(row[j])) for j in indices] for row, indices in zip(matrix, top)]


def precision_recall(found, truth):
    """(precision, recall) of a boolean `found` against boolean `truth`; None where undefined."""
    hits = int((found & truth).sum())
    return (round(hits / int(found.sum()), 4) if found.sum() else None,
            round(hits / int(truth.sum()), 4) if truth.sum() else None)


def summary_text(summary):
    """summary.txt: what was audited, how the threshold's precision is estimated, the noisiest types, the top."""
    fit = summary['threshold_fit']
    lines = [f'audit of {summary["catalog"]} with {summary["folds"]} folds ({summary["model"]} models, ranking '
             f'{summary["ranking"]}): {summary["labelled"]} labelled items, {summary["audited"]} audited out of '
             f'sample (articleType accuracy {summary["out_of_sample_accuracy"]}); {summary["issues"]} issues by '
             f'{summary["method"]} ({", ".join(f"{k} {v}" for k, v in summary["issues_by_method"].items())}); '
             f'{summary["minutes"]} minutes']
    if fit.get('own_rate_precision') is not None:
        low, high = fit['own_rate_precision_interval']
        errors = summary['expected_errors']
        lines.append(f'estimated precision of the issues at the catalog\'s own noise rate: '
                     f'{fit["own_rate_precision"]:.2f} (95% {low:.2f}-{high:.2f}); real errors expected in the '
                     f'catalog: {errors["estimate"]} (95% {errors["interval"][0]}-{errors["interval"][1]}), of which '
                     f'the issues should hold {summary["expected_errors_flagged"]}')
    if summary['classes_not_audited']:
        lines.append('not audited (no training items for the fold\'s model): ' + ', '.join(
            f'{name} in fold {", ".join(map(str, fold_list))}' for name, fold_list in
            summary['classes_not_audited'].items()))
    noisiest = sorted(((rate, name) for name, rate in summary['noise_per_type'].items() if rate is not None),
                      reverse=True)[:10]
    lines.append('estimated noise per articleType (cleanlab), highest: ' + ', '.join(
        f'{name} {rate:.1%}' for rate, name in noisiest))
    lines += [f'{t["rank"]:>5} {t["id"]:>8} {t["given_type"]} ({t["given_class"]}) -> {t["suggested_type"]} '
              f'({t["suggested_probability"]:.2f}; given {t["given_probability"]:.4f}; evidence {t["evidence"]}) '
              f'{t["name"]}' for t in summary['top']]
    return '\n'.join(lines) + '\n'

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
  threshold can be fitted on it;
- `plain`: plain mistakes first. A label scores its neighbourhood's probability (the label and its declared or
  learned neighbours, rules/overlap.py), so a Tops/Tshirts question ranks low; and as far as the name agrees
  with the label, the image head's opinion takes up to IMAGE_WEIGHT of the fused head's place (a geometric
  mix), since a name as wrong as its label would otherwise vouch for it. cleanlab's issues and noise estimates
  read the fused head under this ranking.
A label is scored at the level the model knows it (`others_at_class_level`): its articleType's leaf, or for an
item of a type outside the leaves (a rare type, a relabelled Free Gift) its whole Class. An issue is a label
the scored matrix puts another leaf before, with a quality at most the threshold fitted on that matrix with
injected flips (rules/flag_fit.fit_flag_threshold), or one cleanlab's `find_label_issues` prunes. The evidence
of an issue names the single-modality heads that disagree on their own: they put another
leaf first and give the label at most EVIDENCE_MAX_GIVEN (`image`, `name`, `both`; neither: `combined`). A label
whose suggested type is its neighbour, declared (rules/neighbours.py) or learned from the taxonomy overlap
report (rules/overlap.py), is never an issue: the suggestion is kept as its `neighbour_type`.
"""
import warnings

import numpy as np
import pandas as pd

from pipelines.rules import (catalog, flag_fit, judged, leaves as leaves_lib, neighbours as neighbours_lib,
                             overlap, predictions)

CLEANLAB, THRESHOLD = 'cleanlab', 'threshold'
METHODS = (CLEANLAB, THRESHOLD)
FUSED, IMAGE, NAME, FLIPPED = 'fused', 'image_only', 'name_only', 'fused_flipped'
HEADS = (FUSED, IMAGE, NAME)
AGREEMENT, FLIPS, ENSEMBLE, PLAIN = 'agreement', 'flips', 'ensemble', 'plain'
RANKINGS = (FUSED, AGREEMENT, FLIPS, ENSEMBLE, PLAIN)
EVIDENCE_MAX_GIVEN = 0.1
IMAGE_WEIGHT = 0.75  # the plain ranking's most weight on the image head, where the name fully agrees (BENCHMARKS.md)
TOP_K = 3
TOP_SHOWN = 50  # issues the summary (and the report) show

GIVEN = ('given_master', 'given_sub', 'given_type', 'given_class')
SUGGESTED = ('suggested_master', 'suggested_sub', 'suggested_type', 'suggested_class')
AUDIT_COLUMNS = ('id', *GIVEN, 'name', 'split', 'fold', 'rank', 'issue', 'evidence', *SUGGESTED,
                 'suggested_probability', 'given_probability', 'image_given_probability', 'name_given_probability',
                 'image_suggests', 'name_suggests', 'label_quality', *(f'quality_{r}' for r in RANKINGS),
                 *(f'top{k}_{field}' for k in range(1, TOP_K + 1) for field in ('type', 'probability')),
                 'cleanlab_issue', 'threshold_issue', 'neighbour_type', 'type_known', 'group', 'content_hash')


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


def image_weight(name_probabilities, adjacency):
    """For each item and label, the plain ranking's weight on the image head: IMAGE_WEIGHT times the name head's
    probability of the label's neighbourhood (how far the name agrees with the label)."""
    return IMAGE_WEIGHT * np.clip(name_probabilities @ adjacency, 0.0, 1.0)


def geometric_mix(fused, image, weight):
    """fused^(1 - weight) * image^weight, elementwise: the image's opinion taking `weight` of the fused head's place."""
    return np.exp((1 - weight) * np.log(fused + 1e-12) + weight * np.log(image + 1e-12))


def plain_scores(scored, adjacency):
    """The plain ranking's scores: for each item and label, the label's neighbourhood's probability under the fused
    head, moved towards the image head's as far as the name agrees with that label (a geometric mix: the name that
    is as wrong as the label no longer vouches for it). `scored` holds the heads at the level labels are scored."""
    fused = scored[FUSED] @ adjacency
    if IMAGE not in scored or NAME not in scored:
        return fused
    return geometric_mix(fused, scored[IMAGE] @ adjacency, image_weight(scored[NAME], adjacency))


def ranking_matrix(heads, given, ranking, adjacency=None):
    """The score matrix of a ranking (module docstring); a ranking whose heads are missing is the fused head.
    The plain ranking's is the per-leaf geometric mix of the fused and image heads, weighted by how far the name
    agrees with each item's label's neighbourhood (`adjacency`): what its suggestion is read from."""
    if ranking == PLAIN and IMAGE in heads and NAME in heads:
        weight = given_quality(image_weight(heads[NAME], np.eye(heads[NAME].shape[1]) if adjacency is None
                                            else adjacency), given)
        mixed = geometric_mix(heads[FUSED], heads[IMAGE], weight[:, None])
        return mixed / mixed.sum(axis=1, keepdims=True)
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


def _spread(values, mask, fill):
    """`values` of the rows where `mask` holds, `fill` elsewhere."""
    values = np.asarray(values)
    column = np.full(len(mask), fill, dtype=object if values.dtype == object else values.dtype)
    column[mask] = values
    return column


def combine(listing, results):
    """The folds' predictions over the union of their leaves, in listing order: (leaf names, {name: parents},
    given leaf per row (-1: not audited), {head: [rows, leaves]} for the heads every fold has)."""
    names, parents = union_leaves([leaves for _, leaves, _, _ in results])
    index = {name: i for i, name in enumerate(names)}
    position = {item_id: n for n, item_id in enumerate(listing['id'])}
    given = np.full(len(listing), -1)
    heads = {}
    for ids, leaves, fold_given, fold_heads in results:
        rows = np.array([position[i] for i in ids], int)
        given[rows] = [index[leaves.article_types[g]] if g >= 0 else -1 for g in fold_given]
        for head, probabilities in fold_heads.items():
            heads.setdefault(head, np.zeros((len(listing), len(names))))[rows] = widen(
                probabilities, leaves.article_types, names)
    return names, parents, given, {h: p for h, p in heads.items() if all(h in r[3] for r in results)}


def fit_ranking(heads, given, parents, names, ranking, adjacency):
    """(score matrix, the matrix labels are scored on, threshold fit) of one ranking over the audited items; half
    the fit's injected flips stay in their masterCategory."""
    leaf_classes = _leaf_classes(parents, names)
    matrix = ranking_matrix(heads, given, ranking, adjacency)
    if ranking == PLAIN:
        scored = plain_scores({h: others_at_class_level(p, names, leaf_classes) for h, p in heads.items()}, adjacency)
    else:
        scored = others_at_class_level(matrix, names, leaf_classes)
    return matrix, scored, flag_fit.fit_flag_threshold(scored, given, [parents[name][0] for name in names])


def _leaf_classes(parents, names):
    return [parents[name][2] for name in names]


def _names(names, indices):
    return np.array([names[j] for j in indices], object)


def rank(listing, results, ranking, method, neighbours=neighbours_lib.NONE):
    """(The audit table (rules/audit.AUDIT_COLUMNS, most suspicious first), the ranking's summary, the taxonomy
    overlap report's pairs (rules/overlap.py)). A label whose suggested type is in its neighbourhood (a declared
    or learned neighbour) is not an issue: its suggestion is kept as `neighbour_type`."""
    names, parents, given_all, heads_all = combine(listing, results)
    audited = given_all >= 0
    given = given_all[audited]
    heads = {h: p[audited] for h, p in heads_all.items()}
    overlapping = overlap.pairs(given, heads[FUSED], names, neighbours)
    adjacency = overlap.adjacency(names, overlapping)
    matrices, scored, fits = {}, {}, {}
    for option in RANKINGS:
        matrices[option], scored[option], fits[option] = fit_ranking(heads, given, parents, names, option, adjacency)
    matrix, fit = matrices[ranking], fits[ranking]
    suggested = matrix.argmax(axis=1)
    nearby = adjacency[given, suggested] > 0  # the label itself or its neighbour
    neighbour = nearby & (suggested != given)
    by_threshold = threshold_issues(scored[ranking], given, fit['max_given_probability']) & ~nearby
    label_free = heads[FUSED] if ranking == PLAIN else matrix  # cleanlab's estimates need one matrix for all labels
    by_cleanlab = cleanlab_issues(label_free, given) & ~nearby
    quality = given_quality(scored[ranking], given)
    heads_scored = {h: others_at_class_level(p, names, _leaf_classes(parents, names))
                    for h, p in heads.items()}
    table = pd.DataFrame({'id': listing['id'], 'name': listing['productDisplayName'], 'split': listing['split'],
                          'fold': listing['fold'], 'group': listing['group'], 'content_hash': listing['content_hash'],
                          'given_master': listing['masterCategory'], 'given_sub': listing['subCategory'],
                          'given_type': listing['articleType'], 'given_class': listing['class_name']})
    suggested_labels = [(*parents[names[j]][:2], names[j], parents[names[j]][2]) for j in suggested]
    for column, values in zip(SUGGESTED, zip(*suggested_labels) if len(given) else [()] * 4):
        table[column] = _spread(np.array(values, object), audited, None)
    table['suggested_probability'] = _spread(matrix[np.arange(len(given)), suggested], audited, np.nan)
    for column, head in (('given_probability', FUSED), ('image_given_probability', IMAGE),
                         ('name_given_probability', NAME)):
        table[column] = (_spread(given_quality(heads_scored[head], given), audited, np.nan)
                         if head in heads else np.nan)
    for column, head in (('image_suggests', IMAGE), ('name_suggests', NAME)):
        table[column] = (_spread(_names(names, heads[head].argmax(axis=1)), audited, None) if head in heads else None)
    for option in RANKINGS:
        table[f'quality_{option}'] = _spread(given_quality(scored[option], given), audited, np.nan)
    table['label_quality'] = _spread(quality, audited, np.nan)
    for k, column in enumerate(zip(*top_leaves(matrix, names)), start=1):
        table[f'top{k}_type'] = _spread(np.array([name for name, _ in column], object), audited, None)
        table[f'top{k}_probability'] = _spread(np.array([value for _, value in column]), audited, np.nan)
    table['evidence'] = _spread(np.array(evidence(heads_scored, given), object), audited, None)
    table['neighbour_type'] = _spread(np.where(neighbour, _names(names, suggested), None), audited, None)
    table['type_known'] = _spread(np.array([not names[g].startswith(leaves_lib.OTHER) for g in given]), audited,
                                  False)
    for name, found in ((CLEANLAB, by_cleanlab), (THRESHOLD, by_threshold)):
        table[f'{name}_issue'] = _spread(found, audited, False)
    table['issue'] = table[f'{method}_issue']
    table.loc[~table['issue'], 'evidence'] = None
    table['rank'] = pd.Series(_spread(ranks(quality), audited, 0), dtype='Int64').where(audited)
    table = table.sort_values(['rank', 'id'], na_position='last', kind='stable')[list(AUDIT_COLUMNS)]
    summary = {
        'method': method, 'ranking': ranking, 'labelled': len(listing), 'audited': int(audited.sum()),
        'issues': int(table['issue'].sum()),
        'issues_by_method': {CLEANLAB: int(by_cleanlab.sum()), THRESHOLD: int(by_threshold.sum()),
                             'both': int((by_cleanlab & by_threshold).sum())},
        'threshold_fit': fit,
        'rankings': {option: {k: fits[option][k] for k in ('max_given_probability', 'recall', 'corrected_precision',
                                                           'own_rate_precision', 'own_rate_precision_interval')}
                     for option in RANKINGS},
        'heads': sorted(heads),
        'out_of_sample_accuracy': round(float((heads[FUSED].argmax(axis=1) == given).mean()), 4)
        if len(given) else None,
        'noise_per_type': noise_per_leaf(given, label_free, names),
        'neighbours': dict(neighbours.summary(), suggested_a_neighbour=int(neighbour.sum()),
                           learned=[[a, b] for a, b in zip(overlapping.loc[overlapping['learned'], 'type_a'],
                                                           overlapping.loc[overlapping['learned'], 'type_b'])]),
    }
    return table, summary, overlapping


def top_issues(table, catalog_dir, count=TOP_SHOWN):
    """The most suspicious issues, with what the report shows of each."""
    issues = table[table['issue']].head(count)
    return [{'id': row.id, 'name': row.name, 'given_class': row.given_class, 'given_type': row.given_type,
             'given_parents': [row.given_master, row.given_sub], 'suggested_class': row.suggested_class,
             'suggested_type': row.suggested_type, 'suggested_parents': [row.suggested_master, row.suggested_sub],
             'suggested_probability': round(float(row.suggested_probability), 4),
             'given_probability': round(float(row.given_probability), 4), 'evidence': row.evidence,
             'rank': int(row.rank), 'image_path': catalog.image_path(catalog_dir, row.id)}
            for row in issues.itertuples()]


def summary_text(summary):
    """summary.txt: what was audited, its precision on real errors as judged, neighbours, the noisiest types, the
    top."""
    lines = [f'audit of {summary["catalog"]} with {summary["folds"]} folds ({summary["model"]} models, ranking '
             f'{summary["ranking"]}): {summary["labelled"]} labelled items, {summary["audited"]} audited out of '
             f'sample (articleType accuracy {summary["out_of_sample_accuracy"]}); {summary["issues"]} issues by '
             f'{summary["method"]} ({", ".join(f"{k} {v}" for k, v in summary["issues_by_method"].items())}); '
             f'{summary["minutes"]} minutes']
    if summary.get('precision_on_real_errors'):
        lines.append(judged.summary_line(summary['precision_on_real_errors']))
    if summary['classes_not_audited']:
        lines.append('not audited (no training items for the fold\'s model): ' + ', '.join(
            f'{name} in fold {", ".join(map(str, fold_list))}' for name, fold_list in
            summary['classes_not_audited'].items()))
    known = summary['neighbours']
    line = neighbours_lib.summary_line(known, 'never an issue')
    if line:
        lines.append(line)
    lines.append(f'{known["suggested_a_neighbour"]} labels were suggested a neighbour (neighbour_type, not issues); '
                 f'neighbours learned from the overlap: ' + (', '.join(' / '.join(pair) for pair in known['learned'])
                                                            or 'none'))
    noisiest = sorted(((rate, name) for name, rate in summary['noise_per_type'].items() if rate is not None),
                      reverse=True)[:10]
    lines.append('estimated noise per articleType (cleanlab), highest: ' + ', '.join(
        f'{name} {rate:.1%}' for rate, name in noisiest))
    lines += [f'{t["rank"]:>5} {t["id"]:>8} {t["given_type"]} ({t["given_class"]}) -> {t["suggested_type"]} '
              f'({t["suggested_probability"]:.2f}; given {t["given_probability"]:.4f}; evidence {t["evidence"]}) '
              f'{t["name"]}' for t in summary['top']]
    return '\n'.join(lines) + '\n'

"""The audit's ranking: the folds' leaves joined, the rankings' score matrices, the evidence, cleanlab's issues
and the threshold rule."""
import numpy as np
import pandas as pd
from cleanlab import rank as cl_rank

from pipelines.rules import audit, leaves as leaves_lib, neighbours


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


def _heads(seed=1):
    """Three heads over the same items: the name head blind to the flips' first half (a wrong name too)."""
    given, fused, flipped = _noisy(seed)
    truth = fused.argmax(axis=1)
    sure = 0.9 * np.eye(fused.shape[1])[truth] + 0.1 / fused.shape[1]
    image, name = sure.copy(), sure.copy()
    fooled = np.flatnonzero(flipped)[: flipped.sum() // 2]
    name[fooled] = np.eye(fused.shape[1])[given[fooled]]
    return given, {audit.FUSED: fused, audit.IMAGE: image, audit.NAME: name}, flipped, fooled


def test_cleanlab_finds_the_flipped_labels_and_the_fused_ranking_puts_them_first():
    given, probabilities, flipped = _noisy()
    issues = audit.cleanlab_issues(probabilities, given)
    precision, recall = audit.precision_recall(issues, flipped)
    assert precision >= 0.9 and recall >= 0.6  # cleanlab prunes only as many as it estimates
    quality = audit.given_quality(audit.ranking_matrix({audit.FUSED: probabilities}, given, audit.ENSEMBLE), given)
    ranked = audit.ranks(quality)  # a model without modality heads ranks by its fused head, whatever is asked
    assert set(np.flatnonzero(ranked <= flipped.sum())) == set(np.flatnonzero(flipped))


def test_the_ensemble_ranking_is_cleanlabs_ensemble_score():
    given, heads, _, _ = _heads()
    matrix = audit.ranking_matrix(heads, given, audit.ENSEMBLE)
    expected = cl_rank.get_label_quality_ensemble_scores(given, [heads[h] for h in audit.HEADS],
                                                         method='self_confidence', verbose=False)
    np.testing.assert_allclose(audit.given_quality(matrix, given), expected, rtol=1e-9)


def test_rankings_and_the_evidence_that_disagrees():
    given, heads, flipped, fooled = _heads()
    heads[audit.FLIPPED] = heads[audit.FUSED] * 0.5 + 0.1
    agreement = audit.ranking_matrix(heads, given, audit.AGREEMENT)
    np.testing.assert_allclose(agreement, np.maximum(heads[audit.IMAGE], heads[audit.NAME]))
    np.testing.assert_allclose(audit.ranking_matrix(heads, given, audit.FLIPS), heads[audit.FUSED] * 0.75 + 0.05)
    evidence = audit.evidence(heads, given)
    caught = np.flatnonzero(flipped & ~np.isin(np.arange(len(given)), fooled))
    assert {evidence[i] for i in fooled} == {'image'}  # the name agrees with a wrong label: the image alone says so
    assert {evidence[i] for i in caught} <= {'both', 'image', 'name'} and 'both' in {evidence[i] for i in caught}
    assert audit.evidence({audit.FUSED: heads[audit.FUSED]}, given) == [None] * len(given)


def test_threshold_rule_flags_only_disagreements_under_the_threshold():
    given = np.array([0, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert audit.threshold_issues(probabilities, given, 0.3).tolist() == [False, True, False]
    assert audit.threshold_issues(probabilities, given, 0.5).tolist() == [False, True, True]


def test_folds_leaves_are_joined_over_their_union():
    first = audit.class_leaves(['Shoes', 'Watches'], {'Shoes': 'Footwear', 'Watches': 'Accessories'})
    second = leaves_lib.Leaves(article_types=('Watches', 'Casual Shoes'), master_categories=('Accessories', 'Footwear'),
                               sub_categories=('Watches', 'Shoes'), class_names=('Watches', 'Shoes'),
                               classes=('Shoes', 'Watches'))
    names, parents = audit.union_leaves([first, second])
    assert names == ('Shoes', 'Watches', 'Casual Shoes') and parents['Casual Shoes'] == ('Footwear', 'Shoes', 'Shoes')
    wide = audit.widen(np.array([[0.2, 0.8]]), second.article_types, names)
    assert wide.tolist() == [[0.0, 0.2, 0.8]]


def test_noise_per_leaf_is_high_where_labels_were_flipped_and_none_without_items():
    given, probabilities, _ = _noisy(items=800, flips=0)
    given[np.flatnonzero(given == 1)[::2]] = 0  # half of class 1's items now say class 0
    rates = audit.noise_per_leaf(given, probabilities, ['a', 'b', 'c', 'd', 'e'])
    assert rates['e'] is None
    assert rates['a'] > 0.1 and max(rates['b'], rates['c'], rates['d']) < 0.02  # cleanlab's estimate is cautious


def test_ranks_and_top_leaves():
    assert audit.ranks(np.array([0.5, 0.1, 0.9])).tolist() == [2, 1, 3]
    top = audit.top_leaves(np.array([[0.2, 0.7, 0.1]]), ['a', 'b', 'c'], k=2)
    assert top == [[('b', 0.7), ('a', 0.2)]]
    assert audit.precision_recall(np.array([True, False]), np.array([False, False])) == (0.0, None)


def test_a_label_outside_the_leaves_is_scored_by_its_class():
    names = ('Watches', '(other) Watches', 'Shirts')
    classes = ('Watches', 'Watches', 'Shirts')
    matrix = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    scored = audit.others_at_class_level(matrix, names, classes)
    given = np.array([1, 1])  # a Free Gift watch, and one that looks like a shirt
    np.testing.assert_allclose(audit.given_quality(scored, given), [0.95, 0.2])
    assert audit.threshold_issues(scored, given, 0.5).tolist() == [False, True]
    np.testing.assert_array_equal(scored[:, [0, 2]], matrix[:, [0, 2]])  # a known type keeps its own leaf


def test_a_label_suggested_its_declared_neighbour_is_never_an_issue():
    given, heads, _, _ = _heads()
    names = ('Tops', 'Tshirts', 'Shirts', 'Kurtas', 'Tunics')
    leaves = audit.class_leaves(names, dict.fromkeys(names, 'Apparel'))
    ids = [str(i) for i in range(len(given))]
    listing = pd.DataFrame({'id': ids, 'productDisplayName': 'x', 'split': 'train', 'fold': 0, 'group': ids,
                            'content_hash': ids, 'masterCategory': 'Apparel', 'subCategory': 'Topwear',
                            'articleType': [names[g] for g in given], 'class_name': [names[g] for g in given]})
    results = [(ids, leaves, given, heads)]
    table, summary, _ = audit.rank(listing, results, audit.FUSED, audit.CLEANLAB)
    pairs = {frozenset(pair) for pair in zip(table.loc[table['issue'], 'given_type'],
                                               table.loc[table['issue'], 'suggested_type'])}
    tshirts_tops = frozenset(('Tshirts', 'Tops'))
    assert tshirts_tops in pairs and len(pairs) > 1
    declared = neighbours.parse('type_a,type_b,relation,declared_by,declared_on,why\nTshirts,Tops,neighbours,ana,2026-12-07,\n', 'n.csv')
    table_n, summary_n, _ = audit.rank(listing, results, audit.FUSED, audit.CLEANLAB, declared)
    issues = table_n[table_n['issue']]
    assert tshirts_tops not in {frozenset(pair) for pair in zip(issues['given_type'], issues['suggested_type'])}
    withheld = table['issue'] & [frozenset(p) == tshirts_tops for p in zip(table['given_type'],
                                                                           table['suggested_type'])]
    assert summary_n['issues'] == summary['issues'] - int(withheld.sum())
    assert summary_n['neighbours']['declared'] == [['Tops', 'Tshirts']]
    assert summary_n['neighbours']['suggested_a_neighbour'] >= int(withheld.sum())

"""The taxonomy overlap report and the plain-mistake ranking on a synthetic audit with three planted kinds:
plain swaps between unrelated types, a pair of types used at random for one kind of product, and clean items."""
import numpy as np
import pandas as pd

from pipelines.rules import audit, decisions, neighbours, overlap

NAMES = ('Tops', 'Tshirts', 'Shirts', 'Handbags', 'Heels', 'Watches')
TOPS, TSHIRTS, SHIRTS, HANDBAGS = range(4)


def _planted(seed=0, items=1500, swaps=40):
    """(given labels, heads, which items are swaps, which carry the neighbour pair): a tee-like kind of product
    labelled Tops or Tshirts at random, which no head can tell apart; `swaps` shirts labelled Handbags, half of
    them named as handbags too (the name as wrong as the label)."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(1, len(NAMES), items)  # kind 1 stands for the tee-like product
    kinds[kinds == 1] = np.where(rng.random((kinds == 1).sum()) < 0.5, TOPS, TSHIRTS)
    tee = np.isin(kinds, (TOPS, TSHIRTS))
    given = kinds.copy()
    given[tee] = np.where(rng.random(tee.sum()) < 0.5, TOPS, TSHIRTS)
    truth = np.eye(len(NAMES))[kinds]
    truth[tee] = 0.0
    truth[tee, TOPS], truth[tee, TSHIRTS] = 0.5, 0.5

    def head(sureness):
        noise = rng.dirichlet(np.ones(len(NAMES)), items)
        return sureness * truth + (1 - sureness) * noise

    image, name = head(0.85), head(0.9)
    swapped = rng.choice(np.flatnonzero(kinds == SHIRTS), swaps, replace=False)
    given[swapped] = HANDBAGS
    fooled = swapped[: swaps // 2]
    name[fooled] = 0.9 * np.eye(len(NAMES))[HANDBAGS] + 0.1 / len(NAMES)
    fused = np.sqrt(image * name)
    fused /= fused.sum(axis=1, keepdims=True)
    is_swap = np.zeros(items, bool)
    is_swap[swapped] = True
    return given, {audit.FUSED: fused, audit.IMAGE: image, audit.NAME: name}, is_swap, tee


def _rank(given, heads, ranking, declared=neighbours.NONE, method=audit.THRESHOLD):
    ids = [str(i) for i in range(len(given))]
    leaves = audit.class_leaves(NAMES, dict.fromkeys(NAMES, 'Apparel'))
    listing = pd.DataFrame({'id': ids, 'productDisplayName': 'x', 'split': 'train', 'fold': 0, 'group': ids,
                            'content_hash': ids, 'masterCategory': 'Apparel', 'subCategory': 'Topwear',
                            'articleType': [NAMES[g] for g in given], 'class_name': [NAMES[g] for g in given]})
    return audit.rank(listing, [(ids, leaves, given, heads)], ranking, method, declared)


def test_the_overlap_report_learns_the_two_way_pair_and_not_the_one_way_swaps():
    given, heads, _, _ = _planted()
    pairs = overlap.pairs(given, heads[audit.FUSED], NAMES)
    top = pairs.iloc[0]
    assert {top['type_a'], top['type_b']} == {'Tops', 'Tshirts'} and top['learned'] and top['two_way'] > 0.5
    swaps = pairs[(pairs['type_a'] == 'Handbags') & (pairs['type_b'] == 'Shirts')]
    assert len(swaps) == 1 and swaps['a_as_b'].iloc[0] >= 10 and not swaps['learned'].iloc[0]
    assert pairs['learned'].sum() == 1
    adjacency = overlap.adjacency(NAMES, pairs)
    assert adjacency[TOPS, TSHIRTS] == adjacency[TSHIRTS, TOPS] == 1 and adjacency.sum() == len(NAMES) + 2


def test_a_declared_pair_stays_in_the_report_with_its_counts_even_without_overlap():
    given, heads, _, _ = _planted()
    declared = neighbours.parse('type_a,type_b,relation,declared_by,declared_on,why\nHeels,Watches,neighbours,ana,2026-12-07,\n', 'n.csv')
    pairs = overlap.pairs(given, heads[audit.FUSED], NAMES, declared)
    row = pairs[(pairs['type_a'] == 'Heels') & (pairs['type_b'] == 'Watches')].iloc[0]
    assert row['declared'] and row['neighbours'] and not row['learned'] and row['overlapping'] == 0


def test_the_plain_ranking_puts_the_swaps_first_and_leaves_the_pair_out():
    given, heads, is_swap, tee = _planted()
    table, summary, _ = _rank(given, heads, audit.PLAIN)
    top = table.head(int(is_swap.sum()))
    assert top['id'].astype(int).map(lambda i: is_swap[i]).mean() >= 0.95
    issues = table[table['issue']]
    assert issues['id'].astype(int).map(lambda i: is_swap[i]).mean() >= 0.9
    assert not issues['id'].astype(int).map(lambda i: tee[i]).any()  # Tops/Tshirts: a question, not a mistake
    on_pair = table[table['id'].astype(int).map(lambda i: tee[i])]
    assert on_pair['neighbour_type'].isin(['Tops', 'Tshirts']).any()
    assert summary['neighbours']['learned'] == [['Tops', 'Tshirts']] or summary['neighbours']['learned'] == [
        ['Tshirts', 'Tops']]
    fooled_suggestions = table[table['id'].astype(int).map(lambda i: is_swap[i])]['suggested_type']
    assert (fooled_suggestions == 'Shirts').mean() >= 0.9  # the image's type, even where the name says Handbags


def test_the_fused_ranking_misses_swaps_whose_name_is_as_wrong_as_the_label():
    given, heads, is_swap, _ = _planted()
    plain = _rank(given, heads, audit.PLAIN)[0].head(int(is_swap.sum()))
    fused = _rank(given, heads, audit.FUSED)[0].head(int(is_swap.sum()))
    hits = {name: frame['id'].astype(int).map(lambda i: is_swap[i]).sum() for name, frame in
            (('plain', plain), ('fused', fused))}
    assert hits['plain'] > hits['fused']


def test_learned_pairs_are_written_after_the_declared_ones_as_a_neighbours_file():
    given, heads, _, _ = _planted()
    declared_text = 'type_a,type_b,relation,declared_by,declared_on,why\nHeels,Watches,neighbours,ana,2026-12-07,"one, two"\n'
    pairs = overlap.pairs(given, heads[audit.FUSED], NAMES, neighbours.parse(declared_text, 'n.csv'))
    both = neighbours.parse(overlap.with_learned(declared_text, pairs, '2026-12-07'), 'audit/neighbours.csv')
    assert both.declared('Heels', 'Watches') and both.declared('Tshirts', 'Tops') and len(both.pairs) == 2


def test_reviewers_decisions_are_counted_on_the_pair_their_item_sits_on():
    table = pd.DataFrame({'id': ['1', '2', '3', '4'], 'given_type': ['Tops', 'Tshirts', 'Tops', 'Shirts'],
                          'top1_type': ['Tshirts', 'Tops', 'Tops', 'Tops']})
    latest = {i: decisions.Decision(id=i, decision=d, masterCategory='Apparel', subCategory='Topwear',
                                    articleType=t, given_class='Topwear', predicted_class='Topwear', flagged=True,
                                    decided_by='ana', decided_at='2026-12-07', model_version='1',
                                    catalog_version='c', fingerprint='f')
              for i, d, t in (('1', 'keep', 'Tops'), ('2', 'accept', 'Tops'), ('3', 'relabel', 'Tshirts'),
                              ('4', 'keep', 'Shirts'))}
    assert overlap.decisions_on_pair('Tops', 'Tshirts', table, latest) == {'accept Tops': 1, 'keep Tops': 1}


def test_a_pair_declared_distinct_is_never_learned_and_stays_a_mistake():
    given, heads, _, tee = _planted()
    distinct = neighbours.parse('type_a,type_b,relation,declared_by,declared_on,why\n'
                                'Tshirts,Tops,distinct,ana,2026-12-07,two kinds here\n', 'n.csv')
    pairs = overlap.pairs(given, heads[audit.FUSED], NAMES, distinct)
    row = pairs.iloc[0]
    assert {row['type_a'], row['type_b']} == {'Tops', 'Tshirts'} and row['distinct'] and not row['neighbours']
    table, summary, _ = _rank(given, heads, audit.PLAIN, distinct)
    assert summary['neighbours']['learned'] == [] and table['neighbour_type'].isna().all()


def test_under_any_ranking_a_label_suggested_its_learned_neighbour_is_no_issue_but_its_neighbour_type():
    given, heads, _, tee = _planted()
    for method in audit.METHODS:
        table = _rank(given, heads, audit.FUSED, method=method)[0]
        on_pair = table[table['id'].astype(int).map(lambda i: tee[i])]
        assert not on_pair['issue'].any(), method
        assert on_pair['neighbour_type'].notna().sum() > 50, method

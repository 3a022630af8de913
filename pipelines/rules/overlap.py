"""The taxonomy overlap report: pairs of articleTypes that a catalog uses interchangeably, learned from the audit's
out-of-sample predictions.

cleanlab's `find_overlapping_classes` estimates, from the given labels and the fused head's probabilities, the
joint share of items given one type whose product is the other (its calibrated confident joint). A plain mistake
runs one way: bras given Tshirts are common, a T-shirt given Bra is not. A neighbour runs both ways: the
catalog's people file T-shirts as Tops and tops as Tshirts. So a pair is a *learned neighbour* where each
direction holds at least MIN_EACH_WAY items and the smaller direction is at least MIN_TWO_WAY of the larger.
That rule cannot see every case: on the real catalog Heels and Flats run both ways (a group of flats filed as
heels taught the models to confuse them), yet the judges call those labels plain mistakes; and Sandals against
Flip Flops runs mostly one way, yet is a neighbour (BENCHMARKS.md, "Plain mistakes first"). So the catalog
team's word wins: a pair declared `neighbours` (rules/neighbours.py) is one whatever its counts, one declared
`distinct` is never learned, and both stay in the report with their counts.

Other leaves ("(other) <Class>": rare types, relabelled Free Gifts) are already judged by their Class alone,
so they are left out of the pairs.
"""
import collections
import csv
import io
import warnings

import numpy as np
import pandas as pd

from pipelines.rules import catalog, leaves as leaves_lib, neighbours as neighbours_lib

MIN_EACH_WAY = 5
MIN_TWO_WAY = 0.25
MIN_ITEMS = 3  # a pair under this many overlapping items, both ways together, is not reported
TOP_PAIRS = 20  # pairs the summary and the HTML report show
EXAMPLES = 6  # items shown each way
COLUMNS = ('type_a', 'type_b', 'a_as_b', 'b_as_a', 'overlapping', 'joint_share', 'two_way', 'declared', 'distinct',
           'learned', 'neighbours')


def pairs(given, probabilities, names, declared=neighbours_lib.NONE):
    """The overlap report's pairs (COLUMNS), most overlapping first: `a_as_b` items given type_a whose product is
    type_b, `b_as_a` the other way, `joint_share` both over all items, `two_way` the smaller direction over
    the larger, `learned` by the module's rule, `neighbours` learned or declared."""
    from cleanlab.dataset import find_overlapping_classes  # pylint: disable=import-outside-toplevel  (the audit only)
    known = np.array([not name.startswith(leaves_lib.OTHER) for name in names])
    normalised = probabilities / np.maximum(probabilities.sum(axis=1, keepdims=True), 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # leaves without items
        found = find_overlapping_classes(labels=given, pred_probs=normalised, asymmetric=True)
    count = {(a, b): n for a, b, n in zip(found['Class Index A'], found['Class Index B'],
                                          found['Num Overlapping Examples'])}
    rows = []
    for (a, b), a_as_b in count.items():
        b_as_a = count.get((b, a), 0)
        if a > b or not (known[a] and known[b]) or a_as_b + b_as_a < MIN_ITEMS:
            continue
        if b_as_a > a_as_b:
            a, b, a_as_b, b_as_a = b, a, b_as_a, a_as_b
        rows.append(_pair(names[a], names[b], int(a_as_b), int(b_as_a), len(given), declared))
    shown = {frozenset((row['type_a'], row['type_b'])) for row in rows}
    rows += [_pair(*sorted(pair), 0, 0, len(given), declared) for pair in declared.pairs | declared.distinct
             if pair not in shown]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table.sort_values(['overlapping', 'type_a', 'type_b'], ascending=[False, True, True],
                             kind='stable').reset_index(drop=True)


def _pair(type_a, type_b, a_as_b, b_as_a, items, declared):
    two_way = b_as_a / a_as_b if a_as_b else 0.0
    learned = b_as_a >= MIN_EACH_WAY and two_way >= MIN_TWO_WAY and not declared.declared_distinct(type_a, type_b)
    is_declared = declared.declared(type_a, type_b)
    return {'type_a': type_a, 'type_b': type_b, 'a_as_b': a_as_b, 'b_as_a': b_as_a, 'overlapping': a_as_b + b_as_a,
            'joint_share': round((a_as_b + b_as_a) / max(items, 1), 6), 'two_way': round(two_way, 4),
            'declared': is_declared, 'distinct': declared.declared_distinct(type_a, type_b), 'learned': learned,
            'neighbours': learned or is_declared}


def adjacency(names, table):
    """[leaves, leaves] 0/1: each leaf with itself and with its neighbours (the report's `neighbours` pairs,
    declared ones included), so that `probabilities @ adjacency` is each label's neighbourhood's probability."""
    index = {name: i for i, name in enumerate(names)}
    matrix = np.eye(len(names))
    for a, b in zip(table.loc[table['neighbours'], 'type_a'], table.loc[table['neighbours'], 'type_b']):
        if a in index and b in index:
            matrix[index[a], index[b]] = matrix[index[b], index[a]] = 1.0
    return matrix


def examples(table, given_type, other_type, catalog_dir, count=EXAMPLES):
    """The audit table's items given `given_type` whose likeliest type is `other_type`, surest first, as the
    report shows them (id, name, probability, image path)."""
    rows = table[(table['given_type'] == given_type) & (table['top1_type'] == other_type)]
    rows = rows.sort_values(['top1_probability', 'id'], ascending=[False, True], kind='stable').head(count)
    return [{'id': row.id, 'name': row.name, 'probability': round(float(row.top1_probability), 4),
             'image_path': catalog.image_path(catalog_dir, row.id)} for row in rows.itertuples()]


def report(overlapping, table, catalog_dir, top=TOP_PAIRS):
    """summary.json's overlap report: the `top` most overlapping pairs (and every declared one, either relation),
    each with its counts and example items each way."""
    shown = overlapping[(overlapping.index < top) | overlapping['declared'] | overlapping['distinct']]
    return [{**{k: _plain(getattr(row, k)) for k in COLUMNS},
             'examples_a_as_b': examples(table, row.type_a, row.type_b, catalog_dir),
             'examples_b_as_a': examples(table, row.type_b, row.type_a, catalog_dir)}
            for row in shown.itertuples()]


def _plain(value):
    """A numpy scalar as the JSON-ready Python value."""
    return value.item() if hasattr(value, 'item') else value


def decisions_on_pair(type_a, type_b, table, latest):
    """{'<decision> <articleType>': count} of reviewers' latest decisions (rules/decisions.Decision by id) on the
    audit's items that sit on this pair: given one type and likeliest the other."""
    counted = collections.Counter(f'{latest[i].decision} {latest[i].articleType}'.strip()
                                  for i in on_pair(table, type_a, type_b)['id'] if i in latest)
    return dict(sorted(counted.items()))


def on_pair(table, type_a, type_b):
    """The audit table's rows that sit on a pair: given one type, likeliest the other."""
    pair = {type_a, type_b}
    return table[table['given_type'].isin(pair) & table['top1_type'].isin(pair)
                 & (table['given_type'] != table['top1_type'])]


def with_learned(declared_text, overlapping, learned_on):
    """A neighbours CSV (rules/neighbours.COLUMNS): the declared file's text and, after it, each learned pair it
    does not declare, marked as learned by the audit with its counts, so that the nightly's --neighbours can
    keep the learned neighbourhoods apart from its flags too."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    for row in overlapping[overlapping['learned'] & ~overlapping['declared']].itertuples():
        writer.writerow([row.type_a, row.type_b, neighbours_lib.NEIGHBOURS, 'audit', learned_on,
                         f'learned: {row.a_as_b} given {row.type_a} look {row.type_b}, {row.b_as_a} the other way'])
    return declared_text.rstrip('\n') + '\n' + buffer.getvalue()

"""Seeded label noise, to measure how well the mislabel flags find mislabels: some items get the labels of an
item of another class, half of them within their own group (masterCategory), half anywhere."""
import collections

import numpy as np

from pipelines.rules import catalog
from pipelines.rules.catalog import LABEL_COLUMNS


def flip_labels(classes, groups, rate, seed, within_group=False):
    """Chooses round(rate * n) items and, for each, a donor item of another class whose labels it takes.

    `classes` and `groups` give each item's class and group. Even-numbered flips take a class of the item's
    own group when the group has another class (else any), odd-numbered ones any other class; the donor is
    an item of that class, drawn uniformly. With `within_group` every flip stays in its group (the harder
    noise: an articleType swapped for another of the same Class), and only items whose group has another
    class are chosen, round(rate * n) of all n items or as many as there are. Returns {item index: donor
    index}, the same for the same inputs.
    """
    classes, groups = list(classes), list(groups)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f'rate {rate} is not between 0 and 1')
    rng = np.random.default_rng(seed)
    members = collections.defaultdict(list)
    for index, name in enumerate(classes):
        members[name].append(index)
    names = sorted(members)
    group_of = {name: groups[members[name][0]] for name in names}
    if len(names) < 2:
        raise ValueError('flipping labels needs items of two classes at least')
    size = int(round(rate * len(classes)))
    if within_group:
        per_group = collections.Counter(group_of.values())
        eligible = [i for i, group in enumerate(groups) if per_group[group] > 1]
        chosen = np.array(eligible)[rng.choice(len(eligible), size=min(size, len(eligible)), replace=False)]
    else:
        chosen = rng.choice(len(classes), size=size, replace=False)
    donors = {}
    for k, index in enumerate(sorted(chosen)):
        others = [name for name in names if name != classes[index]]
        same_group = [name for name in others if group_of[name] == groups[index]]
        pool = same_group if (within_group or k % 2 == 0) and same_group else others
        target = pool[rng.integers(len(pool))]
        donors[int(index)] = int(members[target][rng.integers(len(members[target]))])
    return donors


def flip_catalog_labels(rows, taxonomy, rate, seed):
    """styles.csv rows (dicts by column, as a catalog is written) with a seeded `rate` of their labelled items given
    the label columns of an item of another Class (flip_labels, grouped by masterCategory), for benchmarks and tests
    of the flags on a catalog that is noisy everywhere. Only rows placed by their labels alone take part: an
    unlabelled row, one the taxonomy does not place, and a Free Items row (its Class comes from its name) are neither
    flipped nor donors.
    Returns (the rows, new dicts where flipped; {flipped id: (its Class, the Class it now has)})."""
    placed = {}
    for index, row in enumerate(rows):
        placement = taxonomy.class_of(catalog.labels_of(row), row['productDisplayName'])
        if placement.label is not None and placement.label == placement.class_name:
            placed[index] = placement.class_name
    items = sorted(placed, key=lambda i: int(rows[i]['id']))
    masters = taxonomy.master_categories()
    donors = flip_labels([placed[i] for i in items], [masters[placed[i]] for i in items], rate, seed)
    rows, flipped = list(rows), {}
    for item, donor in donors.items():
        index, source = items[item], rows[items[donor]]
        rows[index] = dict(rows[index], **{column: source[column] for column in LABEL_COLUMNS})
        flipped[rows[index]['id']] = (placed[index], placed[items[donor]])
    return rows, flipped

"""Seeded label noise, to measure how well the mislabel flags find mislabels: some items get the labels of an
item of another class, half of them within their own group (masterCategory), half anywhere."""
import collections

import numpy as np


def flip_labels(classes, groups, rate, seed):
    """Chooses round(rate * n) items and, for each, a donor item of another class whose labels it takes.

    `classes` and `groups` give each item's class and group. Even-numbered flips take a class of the item's
    own group when the group has another class (else any), odd-numbered ones any other class; the donor is
    an item of that class, drawn uniformly. Returns {item index: donor index}, the same for the same inputs.
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
    chosen = rng.choice(len(classes), size=int(round(rate * len(classes))), replace=False)
    donors = {}
    for k, index in enumerate(sorted(chosen)):
        others = [name for name in names if name != classes[index]]
        same_group = [name for name in others if group_of[name] == groups[index]]
        pool = same_group if k % 2 == 0 and same_group else others
        target = pool[rng.integers(len(pool))]
        donors[int(index)] = int(members[target][rng.integers(len(members[target]))])
    return donors

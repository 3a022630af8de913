"""The audit's folds: by a salted content hash, independent of the split, duplicates together."""
import hashlib

import pytest

from pipelines.rules import folds
from pipelines.rules.split import assign_split


def _hashes(count):
    return [hashlib.sha256(str(n).encode()).hexdigest() for n in range(count)]


def test_folds_are_balanced_and_every_split_spreads_evenly_over_them():
    hashes = _hashes(6000)
    by_split = {}
    for content_hash in hashes:
        by_split.setdefault(assign_split(content_hash), []).append(folds.assign_fold(content_hash, 3))
    for split, assigned in by_split.items():
        shares = [assigned.count(fold) / len(assigned) for fold in range(3)]
        assert all(abs(share - 1 / 3) < 0.04 for share in shares), (split, shares)


def test_the_same_image_gets_the_same_fold_and_holdout():
    content_hash = _hashes(1)[0]
    assert len({folds.assign_fold(content_hash, 2) for _ in range(3)}) == 1
    assert folds.is_holdout(content_hash) == folds.is_holdout(content_hash)


def test_holdout_share_and_roles():
    hashes = _hashes(4000)
    share = sum(map(folds.is_holdout, hashes)) / len(hashes)
    assert abs(share - folds.HOLDOUT_FRACTION) < 0.02
    assert folds.role(1, True, 1) == folds.AUDITED == folds.role(1, False, 1)
    assert folds.role(0, True, 1) == folds.HOLDOUT and folds.role(0, False, 1) == folds.TRAIN


@pytest.mark.parametrize('count, labelled, problem', [
    (2, 0, 'no labelled items'), (1, 10, 'at least 2'), (11, 10, 'more than the 10 labelled items'), (2, 10, None)])
def test_check_folds(count, labelled, problem):
    found = folds.check_folds(count, labelled)
    assert (found is None) if problem is None else (problem in found)


def test_items_joined_by_image_or_by_normalised_name_share_a_group_transitively():
    names = ['Nike Men Black T-shirt', 'nike  men black t-shirt!', 'Puma Shoe', 'Other', '', '']
    hashes = ['c', 'b', 'b', 'a', 'd', 'e']  # 0-1 by name, 1-2 by image; 3 alone; empty names join nothing
    keys = folds.group_keys([folds.normalised_name(n) for n in names], hashes)
    assert keys == ['b', 'b', 'b', 'a', 'd', 'e']
    assigned = folds.assign(['1', '2', '3', '4', '5', '6'], names, hashes, 2)
    assert len({assigned[i][:2] for i in '123'}) == 1  # one fold and one holdout for the group
    assert assigned['1'] == (folds.assign_fold('b', 2), folds.is_holdout('b'), 'b')
    assert folds.normalised_name('  Nike_Men\tBLACK-Shirt ') == 'nike men black shirt'


def test_the_variants_of_one_product_line_share_a_group_and_other_lines_do_not():
    names = ['Gini and Jony Boys Printed White T-shirt', "Gini and Jony Girl's Printed Navy Blue T-Shirt",
             'Catwalk Women Red Flats', 'Catwalk Women Bronze Flats 2', 'Catwalk Women Heels', 'Red', 'White']
    assert folds.variant_name(names[1]) == 'gini and jony printed t shirt'
    keys = folds.group_keys([folds.variant_name(n) for n in names], list('gfedcba'))
    assert keys[0] == keys[1] == 'f' and keys[2] == keys[3] == 'd'
    assert len(set(keys[3:])) == 4  # another product line; names of variant words alone join nothing
    assigned = folds.assign([str(i) for i in range(len(names))], names, list('gfedcba'), 3)
    assert assigned['0'] == assigned['1'] and assigned['2'] == assigned['3']

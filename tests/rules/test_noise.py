import collections

import pytest

from pipelines.rules import catalog, noise, taxonomy

CLASSES = ['Tshirts'] * 300 + ['Shirts'] * 200 + ['Watches'] * 150 + ['Wallets'] * 100 + ['Jeans'] * 250
GROUPS = {'Tshirts': 'Apparel', 'Shirts': 'Apparel', 'Jeans': 'Apparel', 'Watches': 'Accessories',
          'Wallets': 'Accessories'}


@pytest.mark.parametrize('rate', [0.01, 0.02, 0.1, 0.333])
def test_exactly_the_requested_share_is_flipped_to_another_class(rate):
    donors = noise.flip_labels(CLASSES, [GROUPS[c] for c in CLASSES], rate, seed=3)
    assert len(donors) == round(rate * len(CLASSES))
    assert all(CLASSES[donor] != CLASSES[item] for item, donor in donors.items())


def test_the_same_seed_flips_the_same_items_to_the_same_donors_and_another_seed_does_not():
    groups = [GROUPS[c] for c in CLASSES]
    assert noise.flip_labels(CLASSES, groups, 0.1, seed=3) == noise.flip_labels(CLASSES, groups, 0.1, seed=3)
    assert noise.flip_labels(CLASSES, groups, 0.1, seed=3) != noise.flip_labels(CLASSES, groups, 0.1, seed=4)


def test_half_the_flips_stay_within_the_group():
    groups = [GROUPS[c] for c in CLASSES]
    donors = noise.flip_labels(CLASSES, groups, 0.2, seed=5)
    within = collections.Counter(groups[item] == groups[donor] for item, donor in donors.items())
    # even-numbered flips stay in the group; odd-numbered ones go anywhere else (some land in the group too)
    assert within[True] >= len(donors) // 2


def test_a_rate_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError):
        noise.flip_labels(CLASSES, CLASSES, 1.5, seed=1)


def test_flipping_catalog_labels_moves_items_to_another_class_and_leaves_the_rest():
    shipped = taxonomy.load()
    rows = [{'id': str(i), 'masterCategory': m, 'subCategory': s, 'articleType': a, 'productDisplayName': name}
            for i, (m, s, a, name) in enumerate([('Apparel', 'Topwear', 'Tshirts', 'tee')] * 40 +
                                                [('Accessories', 'Watches', 'Watches', 'watch')] * 40 +
                                                [('Free Items', 'Free Gifts', 'Free Gifts', 'Titan Watch')] * 10 +
                                                [('Apparel', '', '', 'unlabelled')] * 10)]
    noisy, flipped = noise.flip_catalog_labels(rows, shipped, 0.1, seed=4)
    assert len(flipped) == 8  # 10% of the 80 rows placed by their labels alone
    for row_id, (was, now) in flipped.items():
        row = noisy[int(row_id)]
        assert was != now == shipped.class_of(catalog.labels_of(row), row['productDisplayName']).class_name
    untouched = [i for i, row in enumerate(rows) if row['id'] not in flipped]
    assert all(noisy[i] == rows[i] for i in untouched) and all(rows[i]['articleType'] != 'Free Gifts'
                                                                or noisy[i] == rows[i] for i in range(len(rows)))
    assert noise.flip_catalog_labels(rows, shipped, 0.1, seed=4)[1] == flipped

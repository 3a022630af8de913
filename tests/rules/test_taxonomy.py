import dataclasses

import pytest

from pipelines.errors import UserError
from pipelines.rules import catalog, taxonomy

COUNTS = {
    ('Apparel', 'Topwear', 'Tshirts'): 300,
    ('Apparel', 'Topwear', 'Shirts'): 200,
    ('Apparel', 'Topwear', 'Kurtas'): 150,
    ('Apparel', 'Dress', 'Dresses'): 50,
    ('Accessories', 'Watches', 'Watches'): 120,
    ('Accessories', 'Ties', 'Ties'): 106,
    ('Accessories', 'Cufflinks', 'Cufflinks'): 105,
    ('Free Items', 'Free Gifts', 'Free Gifts'): 20,
    ('Home', 'Home Furnishing', 'Cushion Covers'): 1,
}


def test_derive_follows_the_seed_procedure():
    derived = taxonomy.derive(COUNTS)
    assert derived.promoted_sub_categories == ('Ties', 'Topwear', 'Watches')
    assert derived.raw_label('Apparel', 'Topwear', 'Tshirts') == 'Tshirts'
    assert derived.raw_label('Apparel', 'Topwear', 'Kurtas') == 'Topwear'
    assert derived.raw_label('Apparel', 'Dress', 'Dresses') == 'Apparel'
    assert derived.raw_label('Accessories', 'Cufflinks', 'Cufflinks') == 'Accessories'
    assert derived.labels == ('Accessories', 'Apparel', 'Free Items', 'Shirts', 'Ties', 'Topwear', 'Tshirts',
                              'Watches')
    assert derived.dropped_labels == {'Home': 1}
    assert 'Free Items' not in derived.classes


def test_classify_quarantines_dropped_and_uncovered_labels():
    derived = taxonomy.derive(COUNTS)
    assert derived.classify('Apparel', 'Topwear', 'Kurtas') == ('Topwear', None, None)
    assert derived.classify('Home', 'Home Furnishing', 'Cushion Covers')[1] == catalog.LABEL_BELOW_MIN_COUNT
    assert derived.classify('Toys', 'Games', 'Board Games')[1] == catalog.LABEL_OUTSIDE_TAXONOMY


def test_a_row_with_an_empty_label_column_has_no_label_and_class_unknown():
    placement = taxonomy.derive(COUNTS).class_of(('Apparel', 'Topwear', ''), 'Tee')
    assert (placement.label, placement.class_name, placement.reason) == (None, 'Unknown', catalog.EMPTY_LABEL)
    assert placement.detail == 'empty articleType'


def test_master_categories_name_each_class_group():
    masters = taxonomy.load().master_categories()
    assert set(masters) == set(taxonomy.load().classes)
    assert masters['Tshirts'] == masters['Topwear'] == 'Apparel' and masters['Watches'] == 'Accessories'


def test_version_follows_the_rules_not_the_counts():
    derived = taxonomy.derive(COUNTS)
    assert dataclasses.replace(derived, combo_counts=()).rules_hash == derived.rules_hash
    assert taxonomy.derive(COUNTS, min_label_count=2).rules_hash != derived.rules_hash


def test_round_trip_and_edit_detection():
    derived = taxonomy.derive(COUNTS)
    assert taxonomy.Taxonomy.from_dict(derived.to_dict()) == derived
    edited = dict(derived.to_dict(), labels=['Shoes'])
    with pytest.raises(UserError, match='does not match'):
        taxonomy.Taxonomy.from_dict(edited)


def test_shipped_taxonomy_has_the_real_30_classes():
    shipped = taxonomy.load()
    assert len(shipped.labels) == 31 and len(shipped.classes) == 30
    assert shipped.dropped_labels == {'Home': 1}
    assert {'Cufflinks', 'Apparel Set', 'Tshirts', 'Shirts', 'Sporting Goods'} <= set(shipped.classes)


@pytest.mark.parametrize('name, expected', [
    ('Q&Q Men Black Digital Watch', 'Watches'),
    ('Park Avenue Blue Patterned Tie', 'Ties'),
    ('Satya Paul Green Saree', 'Saree'),
    ('Stoln Women White Sunglasses', 'Eyewear'),
    ('Rasasi Men Skill Power Deo', None),
])
def test_relabel_matches_the_seed_examples(name, expected):
    label, best, similarity = taxonomy.load().relabeler.match(name)
    assert label == expected
    assert 0.0 <= similarity <= 1.0 and best in taxonomy.load().classes


def test_missing_taxonomy_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match='cannot read taxonomy'):
        taxonomy.load(str(tmp_path / 'nope.json'))


def test_the_rules_hash_is_computed_once_per_taxonomy_since_jobs_compare_it_for_every_row(monkeypatch):
    shipped = taxonomy.load()
    calls = []
    original = taxonomy.Taxonomy._fields_dict
    monkeypatch.setattr(taxonomy.Taxonomy, '_fields_dict', lambda self: calls.append(1) or original(self))
    hashes = {shipped.rules_hash for _ in range(1000)}
    assert len(hashes) == 1 and len(calls) <= 1

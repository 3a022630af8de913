"""What "accept the prediction" may write as the articleType without a person choosing it (rules/decisions.py)."""
from pipelines.rules import decisions

FRAGRANCE = ['Deodorant', 'Fragrance Gift Set', 'Perfume and Body Mist']


def test_the_only_type_of_the_predicted_class_is_preselected():
    assert decisions.preselected_type(['Watches'], 'Tshirts', None) == ('Watches', decisions.ONLY_TYPE)


def test_the_given_type_is_preselected_when_it_lies_in_the_predicted_class():
    assert decisions.preselected_type(FRAGRANCE, 'Deodorant', 'Perfume and Body Mist') == (
        'Deodorant', decisions.GIVEN_TYPE)


def test_else_the_type_the_name_matches():
    assert decisions.preselected_type(FRAGRANCE, 'Tshirts', 'Perfume and Body Mist') == (
        'Perfume and Body Mist', decisions.NAME_MATCH)


def test_without_evidence_nothing_is_preselected_not_even_the_first_type():
    assert decisions.preselected_type(FRAGRANCE, 'Tshirts', None) == (None, None)
    assert decisions.preselected_type(FRAGRANCE, 'Tshirts', 'Watches') == (None, None)  # a match outside the class

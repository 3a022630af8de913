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


def _settled(item_id, by, decision, article='Tshirts'):
    return decisions.Decision(id=item_id, decision=decision, masterCategory='Apparel', subCategory='Topwear',
                              articleType=article, given_class='Topwear', predicted_class='Dress', flagged=True,
                              decided_by=by, decided_at='2026-12-01T00:00:00+00:00', model_version='1',
                              catalog_version='run', fingerprint='f')


def test_agreement_counts_pairs_of_reviewers_on_the_same_item_with_their_latest_decisions():
    history = [_settled('1', 'ana', 'keep'), _settled('1', 'bo', 'keep'),  # agree
               _settled('2', 'ana', 'keep'), _settled('2', 'bo', 'relabel', 'Dresses'),  # disagree
               _settled('3', 'ana', 'relabel', 'Dresses'), _settled('3', 'bo', 'accept', 'Dresses'),  # agree, same type
               _settled('4', 'ana', 'relabel', 'Tops'), _settled('4', 'ana', 'keep'),  # one reviewer: no pair
               _settled('5', 'ana', 'keep'), _settled('5', 'bo', 'not_sure')]  # not settled by bo: no pair
    found = decisions.agreement(history)
    assert (found['settled_items'], found['pairs']) == (3, 3)
    assert found['verdict_agreement'] == 2 / 3 and found['type_agreement'] == 2 / 3
    assert -1 <= found['kappa'] < 1
    assert decisions.agreement(history[:2])['kappa'] is None  # one verdict only: kappa is undefined
    assert decisions.agreement([])['pairs'] == 0

"""Decisions on flagged attributes: they settle an attribute only as the reviewer saw it, and flow into the
nightly's review columns and prepare's rows."""
import pytest

from pipelines.errors import UserError
from pipelines.rules import attribute_reviews, catalog, predictions
from pipelines.rules.attribute_reviews import AttributeDecision


def _record(**changed):
    fields = dict(id='7', productDisplayName='Nike Men Blue Shirt', gender='Women', baseColour='Blue',
                  content_hash='h1', predicted_gender='Men', disagrees_gender=True, disagrees_colour=True)
    return predictions.Prediction(**dict(fields, **changed))


def _decision(record, attribute='gender', decision='accept', value='Men'):
    return AttributeDecision(
        id=record.id, attribute=attribute, decision=decision, value=value, given_value=getattr(record, attribute),
        predicted_value=value, flagged=True, decided_by='Ana', decided_at='2026-12-08T00:00:00+00:00',
        model_version='1', catalog_version='r1', fingerprint=attribute_reviews.fingerprint_of(record, attribute))


def test_a_decision_settles_its_attribute_only_while_what_the_reviewer_saw_is_unchanged():
    record = _record()
    decided = attribute_reviews.reviewed(record, [_decision(record)])
    assert (decided.reviewed_gender, decided.disagrees_gender) == ('Men', False)
    assert decided.disagrees_colour and decided.reviewed_colour is None  # another attribute keeps its flag
    for changed in (dict(gender='Men'), dict(productDisplayName='Nike Women Blue Shirt'), dict(content_hash='h2')):
        again = _record(**changed)
        assert attribute_reviews.reviewed(again, [_decision(record)]) == again, changed
    # a type decision that relabels the item leaves the attribute's decision standing
    relabelled = _record(articleType='Shirts')
    assert attribute_reviews.reviewed(relabelled, [_decision(record)]).reviewed_gender == 'Men'


def test_the_open_flags_of_a_published_record_are_those_no_current_decision_settles():
    record = _record()
    as_dict = record._asdict()
    assert attribute_reviews.open_flags(as_dict, {}) == ['gender', 'baseColour']
    latest = {('7', 'gender'): _decision(record)}
    assert attribute_reviews.open_flags(as_dict, latest) == ['baseColour']
    assert attribute_reviews.open_flags(dict(as_dict, content_hash='h2'), latest) == ['gender', 'baseColour']


def test_prepare_applies_an_override_whose_fingerprint_matches_and_reports_a_stale_one():
    row = catalog.CatalogRow(**{c: '' for c in catalog.COLUMNS}, line='', image_path='x.jpg')._replace(
        id='7', productDisplayName='Nike Men Blue Shirt', gender='Women', baseColour='Blue')
    record = _record()
    rows = attribute_reviews.override_rows({('7', 'gender'): _decision(record),
                                            ('7', 'baseColour'): _decision(_record(content_hash='old'), 'baseColour',
                                                                           'keep', 'Blue')})
    parsed = attribute_reviews.parse(attribute_reviews.to_csv(rows), 'test')
    applied, outcomes = attribute_reviews.apply(row, list(parsed.values()), 'h1')
    assert (applied.gender, applied.baseColour) == ('Men', 'Blue')
    assert sorted((o['attribute'], o['outcome']) for o in outcomes) == [('baseColour', 'stale'), ('gender', 'applied')]


@pytest.mark.parametrize('change', [dict(attribute='season'), dict(decision='relabel'), dict(value=''),
                                    dict(id='x')])
def test_a_bad_override_file_is_one_line(change):
    row = dict(id='7', attribute='gender', value='Men', decision='accept', decided_by='Ana', decided_at='t',
               fingerprint='f')
    with pytest.raises(UserError, match='--attribute-overrides'):
        attribute_reviews.parse(attribute_reviews.to_csv([dict(row, **change)]), 'f.csv')
    with pytest.raises(UserError, match='more than once'):
        attribute_reviews.parse(attribute_reviews.to_csv([row, row]), 'f.csv')

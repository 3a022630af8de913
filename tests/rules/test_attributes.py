"""The attributes a shopper filters on: their values, declared neighbours, and what a record says of them."""
import collections
import dataclasses

import numpy as np

from pipelines.rules import attributes as attributes_lib, predictions, summaries
from tests import fake_export
from tests.rules.test_leaves import _model as full_labels_model, _outputs, _row

COUNTS = {
    'gender': collections.Counter({'Men': 50, 'Women': 40, 'Unisex': 30, 'Girls': 3, '': 9}),
    'baseColour': collections.Counter({'Blue': 30, 'Navy Blue': 30, 'Red': 30, 'Taupe': 2, 'NA': 4}),
    'usage': collections.Counter({'Casual': 60}),  # one value: nothing to predict
}


def _attributes():
    return attributes_lib.fit(COUNTS, attributes_lib.load_groups())


def test_values_are_learned_rare_ones_share_other_and_missing_ones_train_nothing():
    attributes = _attributes()
    assert attributes.values == {'gender': ('Men', 'Unisex', 'Women', '(other)'),
                                 'baseColour': ('Blue', 'Navy Blue', 'Red', '(other)')}
    assert attributes.index('gender', 'Girls') == 3 and attributes.index('gender', 'Women') == 2
    assert attributes.index('gender', '') == -1 and attributes.index('baseColour', 'NA') == -1
    assert attributes.groups['baseColour'] == ('blue', 'blue', 'red', '(other)')
    assert attributes_lib.Attributes.from_json(attributes.to_json()) == attributes


def test_a_value_is_flagged_only_across_groups_and_never_for_or_towards_other():
    groups = _attributes().groups['baseColour']
    blue, navy, red, other = range(4)
    sure_red = np.array([0.01, 0.01, 0.97, 0.01])
    assert attributes_lib.flagged(sure_red, blue, groups, 0.05, 0.5)
    assert not attributes_lib.flagged(np.array([0.02, 0.97, 0.0, 0.01]), blue, groups, 0.05, 0.5)  # neighbours
    assert not attributes_lib.flagged(sure_red, other, groups, 0.05, 0.5)
    assert not attributes_lib.flagged(np.array([0.01, 0.01, 0.01, 0.97]), blue, groups, 0.05, 0.5)
    assert not attributes_lib.flagged(sure_red, -1, groups, 0.05, 0.5)  # missing: filled in, never flagged
    assert not attributes_lib.flagged(np.array([0.3, 0.0, 0.4, 0.3]), blue, groups, 0.5, 0.5)  # not sure enough


def _model(with_attributes=True):
    model = full_labels_model()
    if not with_attributes:
        return model
    thresholds = {name: {'flag': 0.05, 'image': 0.05, 'name': 0.05} for name in ('gender', 'baseColour')}
    return dataclasses.replace(model, attributes=_attributes(), attribute_thresholds=thresholds)


def _with_attributes(outputs, colour, image_colour=None, gender=(0.9, 0.05, 0.03, 0.02)):
    colour, image_colour = np.array(colour), np.array(image_colour if image_colour is not None else colour)
    gender = np.array(gender)
    return dict(outputs, colour_probabilities=colour, image_colour_probabilities=image_colour,
                name_colour_probabilities=colour, gender_probabilities=gender, image_gender_probabilities=gender,
                name_gender_probabilities=gender)


def _record(model, colour, image_colour=None, **given):
    row = _row('Tops', 'Topwear')._replace(**{'gender': 'Men', 'baseColour': 'Blue', **given})
    outputs = _with_attributes(_outputs(model, {'Tops': 0.97, 'Tunics': 0.03}), colour, image_colour)
    return predictions.prediction_record(row, outputs, model)


def test_a_planted_swap_is_flagged_with_its_evidence_and_a_neighbour_is_not():
    model = _model()
    swapped = _record(model, [0.01, 0.01, 0.97, 0.01], image_colour=[0.5, 0.3, 0.1, 0.1])
    assert (swapped.predicted_colour, swapped.disagrees_colour, swapped.colour_evidence) == ('Red', True, 'name')
    neighbour = _record(model, [0.02, 0.97, 0.0, 0.01])
    assert neighbour.predicted_colour == 'Navy Blue' and not neighbour.disagrees_colour
    assert neighbour.colour_evidence is None and not neighbour.disagrees_gender
    assert swapped.season_filled is None and swapped.predicted_usage is None  # not predicted by this release


def test_a_missing_value_is_filled_in_at_the_confidence_knob_and_never_flagged():
    model = _model()
    sure = _record(model, [0.01, 0.01, 0.97, 0.01], baseColour='')
    unsure = _record(model, [0.2, 0.1, 0.6, 0.1], baseColour='NA')
    assert (sure.predicted_colour, sure.colour_filled, sure.disagrees_colour) == ('Red', True, False)
    assert (unsure.predicted_colour, unsure.colour_filled) == ('Red', False)
    keys = summaries.prediction_keys(sure)
    assert ('attributes_filled', 'colour') in keys


def test_a_release_without_attribute_heads_leaves_them_empty_and_the_summary_says_so():
    model = _model(with_attributes=False)
    record = predictions.prediction_record(_row('Tops', 'Topwear'), _outputs(model, {'Tops': 0.97}), model)
    assert all(getattr(record, column) is None for column in attributes_lib.ALL_COLUMNS)
    summary = summaries.build_summary({}, {}, [], [], predictions.Thresholds(), 0.01, model_kind='full labels',
                                      max_given_type_probability=0.05)
    assert 'not predicted by this release' in summaries.summary_text(dict(
        summary, model_version='1', taxonomy_version='t', runner='DirectRunner', rows_read=0, wall_seconds=1.0,
        images_per_second=0.0))
    assert fake_export.model().attributes is None


def test_unisex_is_a_neighbour_of_every_gender_and_groups_follow_the_declared_file():
    attributes = _attributes()
    groups = attributes.groups['gender']
    men, unisex, women = (attributes.index('gender', v) for v in ('Men', 'Unisex', 'Women'))
    sure = {value: np.eye(4)[index] * 0.97 + 0.01 for value, index in (('Men', men), ('Unisex', unisex),
                                                                       ('Women', women))}
    assert attributes_lib.flagged(sure['Women'], men, groups, 0.05, 0.5)
    assert not attributes_lib.flagged(sure['Women'], unisex, groups, 0.05, 0.5)
    assert not attributes_lib.flagged(sure['Unisex'], men, groups, 0.05, 0.5)
    regrouped = attributes_lib.regroup(attributes, {'gender': {'Men': 'adult', 'Women': 'adult'}})
    assert regrouped.values == attributes.values
    assert not attributes_lib.flagged(sure['Women'], men, regrouped.groups['gender'], 0.05, 0.5)


def test_a_flag_short_of_both_heads_stands_only_under_its_evidence_s_own_bar():
    model = _model()
    strict = dict(model.attribute_thresholds, baseColour={'flag': 0.05, 'image': 0.05, 'name': 0.05,
                                                          'bars': {'name': 0.001, 'image': 0.0, 'combined': 0.0}})
    model = dataclasses.replace(model, attribute_thresholds=strict)
    image_says_blue = [0.5, 0.3, 0.1, 0.1]
    assert not _record(model, [0.01, 0.01, 0.97, 0.01], image_colour=image_says_blue).disagrees_colour
    kept = _record(model, [0.0005, 0.0095, 0.98, 0.01], image_colour=image_says_blue)
    assert (kept.disagrees_colour, kept.colour_evidence) == (True, 'name')
    assert _record(model, [0.01, 0.01, 0.97, 0.01]).colour_evidence == 'both'  # both heads: no bar of its own

"""The mislabel flag and the filled-in label's review mark: pure functions of a record's probabilities, tested
on a fake export's metadata."""
import dataclasses

import pytest

from pipelines.rules import predictions
from tests import fake_export
from tests.rows import catalog_row

ROW = catalog_row(id='1', productDisplayName='x', masterCategory='Apparel', subCategory='Topwear',
                  articleType='Tshirts', content_hash='h')


def test_a_confident_prediction_against_a_known_class_is_a_disagreement():
    model = fake_export.model(flag_max_given_probability=0.01)
    confident = fake_export.probabilities(model.classes, 'Watches', 0.95)
    knob = predictions.Thresholds(disagree_min_confidence=0.9)

    def record(given, probabilities=confident, thresholds=knob):
        return predictions.prediction_record(ROW._replace(given_class=given), probabilities, model, thresholds)

    assert record('Tshirts').disagrees
    assert not record('Tshirts', thresholds=predictions.Thresholds(disagree_min_confidence=0.96)).disagrees
    assert not record('Unknown').disagrees and not record('Watches').disagrees
    unsure_of_given = confident.copy()
    unsure_of_given[model.classes.index('Tshirts')] += 0.02  # still a Watch, but Tshirts gets 0.02 > 0.01
    unsure_of_given /= unsure_of_given.sum()
    assert not record('Tshirts', unsure_of_given).disagrees
    assert record('Tshirts', unsure_of_given, thresholds=knob).given_class_probability > 0.01
    flagged = record('Tshirts')
    assert flagged.predicted_class == flagged.top1_class == 'Watches'
    assert flagged.confidence == pytest.approx(0.95)
    assert flagged.given_class_probability == pytest.approx(0.05 / (len(model.classes) - 1))
    assert record('Unknown').given_class_probability is None and not record('Unknown').needs_review
    assert record('Unknown', thresholds=predictions.Thresholds(accept_min_confidence=0.96)).needs_review


def test_the_fitted_threshold_bounds_the_given_class_probability():
    model = fake_export.model()
    confident = fake_export.probabilities(model.classes, 'Watches', 0.95)
    row = ROW._replace(given_class='Tshirts')
    assert predictions.prediction_record(row, confident, model).disagrees
    strict = dataclasses.replace(model, flag_max_given_probability=0.001)
    assert not predictions.prediction_record(row, confident, strict).disagrees

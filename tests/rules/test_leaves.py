"""The full-labels model's leaves, and what a record says from their probabilities."""
import dataclasses

import numpy as np

from pipelines.rules import leaves as leaves_lib, neighbours, predictions, summaries
from tests import fake_export
from tests.rows import catalog_row

CLASSES = ('Bags', 'Topwear', 'Tshirts')
COUNTS = {  # (master, sub, article, Class prepare gave the item): items in the training split
    ('Apparel', 'Topwear', 'Tops', 'Topwear'): 40, ('Apparel', 'Topwear', 'Tunics', 'Topwear'): 12,
    ('Apparel', 'Topwear', 'Shrug', 'Topwear'): 3,  # rare: trains Topwear's other leaf
    ('Apparel', 'Topwear', 'Tshirts', 'Tshirts'): 30, ('Accessories', 'Belts', 'Tshirts', 'Tshirts'): 1,
    ('Accessories', 'Bags', 'Handbags', 'Bags'): 25,
    ('Free Items', 'Free Gifts', 'Free Gifts', 'Bags'): 15,  # relabelled by name: not a type the model predicts
}


def _class_of(master, sub, article):
    if master == 'Free Items':
        return 'Free Items'
    return 'Tshirts' if article == 'Tshirts' else 'Bags' if sub == 'Bags' else sub


def _leaves():
    return leaves_lib.fit(COUNTS, CLASSES, _class_of)


def test_types_with_enough_items_are_leaves_with_their_most_common_parents_and_rarer_ones_train_an_other_leaf():
    leaves = _leaves()
    assert leaves.article_types == ('Handbags', 'Tops', 'Tshirts', 'Tunics', '(other) Bags', '(other) Topwear')
    tshirts = leaves.index('Tshirts')
    assert (leaves.master_categories[tshirts], leaves.sub_categories[tshirts]) == ('Apparel', 'Topwear')
    assert leaves.index('Shrug', 'Topwear') == leaves.index('(other) Topwear')
    assert leaves.index('Free Gifts', 'Bags') == leaves.index('(other) Bags')
    assert leaves.index('Shrug', 'Saree') == -1
    assert leaves.known('Tunics') and not leaves.known('Shrug') and not leaves.known('(other) Topwear')


def test_a_parent_is_the_sum_of_its_leaves_and_never_less_sure_than_a_child():
    leaves = _leaves()
    p = np.array([[0.05, 0.5, 0.1, 0.3, 0.0, 0.05]])
    sub = dict(zip(leaves.vocabulary('subCategory'), leaves.level_probabilities(p, 'subCategory')[0]))
    assert np.isclose(sub['Topwear'], 0.95) and np.isclose(sub['Bags'], 0.05)
    classes = dict(zip(CLASSES, leaves.level_probabilities(p, 'Class')[0]))
    assert np.isclose(classes['Topwear'], 0.85) and np.isclose(classes['Tshirts'], 0.1)
    for level in ('masterCategory', 'subCategory', 'Class'):
        parent = leaves.level_probabilities(p, level)[0]
        assert all(parent[leaves.matrix(level)[i].argmax()] >= p[0, i] for i in range(p.shape[1]))


def test_leaves_survive_json():
    leaves = _leaves()
    assert leaves_lib.Leaves.from_json(leaves.to_json()) == leaves


def _model(type_threshold=0.05):
    leaves = leaves_lib.fit(COUNTS, fake_export.model().classes, _class_of)
    return dataclasses.replace(fake_export.model(), leaves=leaves, flag_type_max_given_probability=type_threshold,
                               evidence_thresholds={'image_only': {'class': 0.01, 'type': 0.05},
                                                    'name_only': {'class': 0.01, 'type': 0.05}})


def _outputs(model, fused, image=None, name=None):
    leaves = model.leaves
    vector = lambda d: np.array([d.get(t, 0.0) for t in leaves.article_types])  # noqa: E731
    heads = {'article_probabilities': vector(fused), 'image_article_probabilities': vector(image or fused),
             'name_article_probabilities': vector(name or fused)}
    return dict(heads, probabilities=leaves.level_probabilities(heads['article_probabilities'][None], 'Class')[0])


def _row(article, given_class):
    return catalog_row(id='7', productDisplayName='x', masterCategory='Apparel', subCategory='Topwear',
                       articleType=article, given_class=given_class, content_hash='h')


def test_a_wrong_type_of_the_right_class_is_flagged_apart_and_says_which_evidence_disagrees():
    model = _model()
    record = predictions.prediction_record(
        _row('Tunics', 'Topwear'), _outputs(model, {'Tops': 0.97, 'Tunics': 0.03}, image={'Tops': 0.99, 'Tunics': 0.01},
                                            name={'Tops': 0.4, 'Tunics': 0.6}), model)
    assert not record.disagrees and record.disagrees_type and record.evidence == 'image'
    assert (record.predicted_type, record.predicted_sub, record.type_known) == ('Tops', 'Topwear', True)
    assert np.isclose(record.sub_confidence, 1.0) and record.top1_type == 'Tops'


def test_a_type_is_not_flagged_when_the_model_prefers_its_class_s_other_leaf():
    model = _model(type_threshold=1.0)
    record = predictions.prediction_record(
        _row('Tunics', 'Topwear'), _outputs(model, {'(other) Topwear': 0.9, 'Tunics': 0.1}), model)
    assert record.predicted_type is None and not record.disagrees_type


def test_a_rare_type_is_never_flagged_for_its_type():
    model = _model(type_threshold=1.0)
    record = predictions.prediction_record(
        _row('Shrug', 'Topwear'), _outputs(model, {'Tops': 0.99, '(other) Topwear': 0.01}), model)
    assert record.type_known is False and not record.disagrees_type and record.evidence is None


def test_an_unlabelled_item_is_filled_in_with_a_type_and_needs_review_below_the_bar():
    model = _model()
    sure = predictions.prediction_record(_row('', 'Unknown'), _outputs(model, {'Tops': 0.95, 'Tunics': 0.05}), model)
    unsure = predictions.prediction_record(_row('', 'Unknown'), _outputs(model, {'Tops': 0.6, 'Tunics': 0.4}), model)
    other = predictions.prediction_record(_row('', 'Unknown'), _outputs(model, {'(other) Topwear': 0.95}), model)
    assert (sure.predicted_type, sure.needs_review) == ('Tops', False)
    assert (unsure.predicted_type, unsure.needs_review) == ('Tops', True)
    assert (other.predicted_type, other.needs_review, other.predicted_class) == (None, True, 'Topwear')


def test_a_label_and_a_prediction_declared_neighbours_raise_neither_flag():
    model = _model()
    declared = predictions.Thresholds(neighbours=neighbours.parse(
        'type_a,type_b,relation,declared_by,declared_on,why\nTunics,Tops,neighbours,catalog team,2026-12-07,one cut\n'
        'Tshirts,Tops,neighbours,catalog team,2026-12-07,interchangeable here\n', 'neighbours.csv'))
    cases = {'disagrees_type': (_row('Tunics', 'Topwear'), _outputs(model, {'Tops': 0.97, 'Tunics': 0.03})),
             'disagrees': (_row('Tshirts', 'Tshirts'), _outputs(model, {'Tops': 0.995, 'Tshirts': 0.005}))}
    for flag, (row, outputs) in cases.items():
        undeclared = predictions.prediction_record(row, outputs, model)
        assert getattr(undeclared, flag) and undeclared.neighbour_type is None, flag
        record = predictions.prediction_record(row, outputs, model, declared)
        assert not record.disagrees and not record.disagrees_type and record.evidence is None, flag
        assert record.predicted_type == 'Tops' and record.neighbour_type == 'Tops'  # counted apart, not a flag
        assert ('neighbour_types', (row.articleType, 'Tops')) in summaries.prediction_keys(record)
        assert not [key for key, _ in summaries.prediction_keys(record) if key in ('flags', 'disagreements')]
    handbag = predictions.prediction_record(_row('Tshirts', 'Tshirts'), _outputs(model, {'Handbags': 0.99}), model,
                                            declared)
    assert handbag.disagrees and handbag.neighbour_type is None  # another pair still flags
    summary = summaries.build_summary({'neighbour_types': {('Tunics', 'Tops'): 2, ('Tshirts', 'Tops'): 1}}, {}, [], [],
                                      declared, 0.1)
    assert summary['neighbours']['count'] == 3 and summary['neighbours']['by_pair'][0] == {
        'given': 'Tunics', 'predicted': 'Tops', 'count': 2}
    summary.update(model_version='1', taxonomy_version='t', runner='DirectRunner', rows_read=3, wall_seconds=1.0,
                   images_per_second=3.0)
    assert 'neighbours, not flags (neighbour_type): 3' in summaries.summary_text(summary)


def test_a_flag_short_of_both_heads_stands_only_under_its_evidence_s_own_bar():
    bars = {'class': {'image': 0.01, 'name': 0.0, 'combined': 0.0}, 'type': {'image': 0.04, 'name': 0.0,
                                                                             'combined': 0.0}}
    model = dataclasses.replace(_model(), single_evidence_thresholds=bars)
    image_sure = _outputs(model, {'Tops': 0.97, 'Tunics': 0.03}, image={'Tops': 0.99, 'Tunics': 0.01},
                          name={'Tops': 0.4, 'Tunics': 0.6})
    name_sure = _outputs(model, {'Tops': 0.97, 'Tunics': 0.03}, image={'Tops': 0.4, 'Tunics': 0.6},
                         name={'Tops': 0.99, 'Tunics': 0.01})
    both_sure = _outputs(model, {'Tops': 0.97, 'Tunics': 0.03}, image={'Tops': 0.99, 'Tunics': 0.01},
                         name={'Tops': 0.99, 'Tunics': 0.01})
    row = _row('Tunics', 'Topwear')
    for outputs, flagged, kind in ((image_sure, True, 'image'), (name_sure, False, None), (both_sure, True, 'both')):
        record = predictions.prediction_record(row, outputs, model)
        assert (record.disagrees_type, record.evidence) == (flagged, kind), kind
        before = predictions.prediction_record(row, outputs, _model())  # a release without the bars
        assert before.disagrees_type and before.evidence in ('image', 'name', 'both')
    tshirt = _row('Tshirts', 'Tshirts')
    name_only_class = _outputs(model, {'Tops': 0.995, 'Tshirts': 0.005}, image={'Tops': 0.5, 'Tshirts': 0.5},
                               name={'Tops': 0.999, 'Tshirts': 0.001})
    record = predictions.prediction_record(tshirt, name_only_class, model)
    assert not record.disagrees and not record.disagrees_type and record.evidence is None
    assert predictions.prediction_record(tshirt, name_only_class, _model()).evidence == 'name'


def test_a_class_that_differs_only_by_the_given_parents_is_a_placement_counted_apart_not_a_flag():
    model = _model()
    outputs = _outputs(model, {'Tops': 0.99, 'Handbags': 0.01})
    placed = predictions.prediction_record(_row('Tops', 'Bags'), outputs, model)  # a top filed under Bags' parents
    assert placed.predicted_class == 'Topwear' and placed.predicted_type == 'Tops'
    assert not placed.disagrees and not placed.disagrees_type and placed.evidence is None
    keys = summaries.prediction_keys(placed)
    assert ('placements', ('Bags', 'Topwear')) in keys and not [k for k, _ in keys if k == 'disagreements']
    wrong = predictions.prediction_record(_row('Handbags', 'Bags'), outputs, model)  # a wrong type still flags
    assert wrong.disagrees and ('placements', ('Bags', 'Topwear')) not in summaries.prediction_keys(wrong)
    summary = summaries.build_summary({'placements': {('Bags', 'Topwear'): 2}}, {}, [], [], predictions.Thresholds(),
                                      0.1)
    summary.update(model_version='1', taxonomy_version='t', runner='DirectRunner', rows_read=3, wall_seconds=1.0,
                   images_per_second=3.0)
    assert summary['placements'] == {'count': 2, 'by_pair': [{'given': 'Bags', 'predicted': 'Topwear', 'count': 2}]}
    assert "placements, not flags (the type agreed, its Class not" in summaries.summary_text(summary)


"""Evaluating and calibrating the full-labels model (`--model fused`): accuracy and macro F1 at every level for
each head, a temperature per head, ECE per level, and the thresholds of its two flags and of its evidence.

Levels: the articleType (the leaf), its subCategory and masterCategory, each the sum of its leaves
(rules/leaves.py), over the items whose articleType the model knows (not an other leaf); and the Class, over every
item. Temperatures are fitted on every val item with a leaf, other leaves included. A
level's macro F1 averages over the values the model knows that occur in the split.

The flags (fitted on val, as pipelines/rules/flag_fit.fit_flag_threshold does for the image-only model):
- `disagrees`: the Class is likely wrong. The fused Class probabilities, with labels flipped to other Classes.
- `disagrees_type`: the Class is right but the articleType likely wrong. The fused leaf probabilities, with
  labels flipped to another articleType of the same Class; only a prediction in the given Class counts.
- Each head's own thresholds for the same two fits: evidence (image, name) disagrees with a given label when
  that head alone would flag it (rules/predictions.evidence).
- A bar of its own for each kind of evidence short of both heads (image, name, combined): the same fit over the
  flags that evidence raises alone, so that they reach the precision the rest do, or none is raised.
"""
import numpy as np
from sklearn import metrics as sk_metrics

from pipelines.rules import flag_fit, predictions
from pipelines.rules.split import SPLITS
from trainer import calibration, data, model as model_lib

LEVEL_KEYS = {'articleType': 'article_type', 'subCategory': 'sub_category', 'masterCategory': 'master_category'}


SINGLE_EVIDENCE = ('image', 'name', 'combined')  # the kinds of evidence held to a bar of their own
FLIPPED = 'fused_flipped'  # the fused head on the mirrored image (test-time flips, for the audit)


def given_key(attribute):
    """predict()'s key for an attribute's given value indices."""
    return f'given.{attribute}'


def predict(model, data_dir, split, leaves, flip=False, attributes=None):
    """Every item of a split: {'id', 'leaf' (-1: none), 'known' (a type the model predicts), 'class_index',
    'masterCategory', 'subCategory', 'images', each head's leaf probabilities, and with `flip` the fused head's
    on the mirrored image}, in file order; with `attributes`, each attribute head's probabilities and each
    attribute's given value indices (given_key) too."""
    attribute_heads = [model_lib.attribute_output(a, head) for a in (attributes.values if attributes else ())
                       for head in model_lib.HEADS]
    given_keys = {a: given_key(a) for a in (attributes.values if attributes else ())}
    out = {key: [] for key in ('id', 'leaf', 'known', 'class_index', 'masterCategory', 'subCategory', 'images',
                               *model_lib.HEADS, *attribute_heads, *given_keys.values(),
                               *([FLIPPED] if flip else []))}
    channels = model.input['image'].shape[-1]
    for batch in data.labelled_batches(data_dir, split, channels):
        heads = model.predict_on_batch({'image': batch['image'], 'name': batch['productDisplayName']})
        for head in (*model_lib.HEADS, *attribute_heads):
            out[head].append(np.asarray(heads[head]))
        for attribute, key in given_keys.items():
            out[key].append(attributes.indices(attribute, [v.decode('utf-8') for v in batch[attribute].numpy()]))
        if flip:
            mirrored = model.predict_on_batch({'image': batch['image'][:, :, ::-1, :],
                                               'name': batch['productDisplayName']})
            out[FLIPPED].append(np.asarray(mirrored['fused']))
        out['id'].append([i.decode('utf-8') for i in batch['id'].numpy()])
        types = [t.decode('utf-8') for t in batch['articleType'].numpy()]
        out['leaf'].append([leaves.index(t, c.decode('utf-8')) for t, c in zip(types, batch['class_name'].numpy())])
        out['known'].append([leaves.known(t) for t in types])
        out['class_index'].append(batch['class_index'].numpy())
        for level in ('masterCategory', 'subCategory'):
            out[level].append([v.decode('utf-8') for v in batch[level].numpy()])
        out['images'].append((batch['image'].numpy() * 255).astype(np.uint8))
    return {key: np.concatenate(values) if values else np.zeros(0) for key, values in out.items()}


def _given(outputs, leaves, level):
    """The given value of a level as an index into its vocabulary (-1 where the vocabulary lacks it)."""
    if level == 'articleType':
        return outputs['leaf']
    vocabulary = leaves.vocabulary(level)
    return np.array([vocabulary.index(v) if v in vocabulary else -1 for v in outputs[level]], int)


def level_scores(probabilities, given, known):
    """Accuracy and macro F1 of a level's probabilities against given indices, over the `known` items."""
    y_true, y_pred = given[known], probabilities[known].argmax(axis=1)
    present = sorted(set(y_true[y_true >= 0].tolist()))
    return {'accuracy': float(np.mean(y_true == y_pred)) if len(y_true) else float('nan'),
            'macro_f1': float(sk_metrics.f1_score(y_true, y_pred, labels=present, average='macro', zero_division=0))
            if present else float('nan'), 'examples': int(known.sum())}


def split_scores(outputs, leaves, split, head_probabilities=None):
    """metrics.json entries of one split: `{split}.{level}.accuracy` / `.macro_f1` for the fused head and
    `{split}.{head}.{level}.…` for the others (articleType, its parents over the known types, and Class over
    every item)."""
    known = outputs['known']
    scores = {f'{split}.type_known_share': float(known.mean()) if len(known) else float('nan')}
    for head in model_lib.HEADS:
        leaf_p = (head_probabilities or outputs)[head]
        prefix = split if head == 'fused' else f'{split}.{head}'
        for level, key in LEVEL_KEYS.items():
            given = _given(outputs, leaves, level)
            probabilities = leaf_p if level == 'articleType' else leaves.level_probabilities(leaf_p, level)
            for name, value in level_scores(probabilities, given, known).items():
                scores[f'{prefix}.{key}.{name}'] = value
        class_p = leaves.level_probabilities(leaf_p, 'Class')
        everything = np.ones(len(outputs['class_index']), bool)
        for name, value in level_scores(class_p, outputs['class_index'], everything).items():
            scores[f'{prefix}.class.{name}'] = value
    return scores


def calibrate(outputs, leaves, groups):
    """Temperatures per head (fitted on every val item with a leaf), ECE per level, and the flag and evidence
    thresholds. Returns (metrics, calibration.json's dict, {split: calibrated head probabilities})."""
    val, test = outputs['val'], outputs['test']
    known = val['leaf'] >= 0
    temperatures = {head: calibration.fit_temperature(val[head][known], val['leaf'][known])
                    for head in model_lib.HEADS}
    calibrated = {split: {head: calibration.scale(outputs[split][head], temperatures[head])
                          for head in model_lib.HEADS} for split in outputs}
    metrics = {f'calibration.{head}.temperature': t for head, t in temperatures.items()}
    metrics['calibration.temperature'] = temperatures['fused']
    for split in ('val', 'test'):
        split_known = outputs[split]['known']
        for level, key in LEVEL_KEYS.items():
            given = _given(outputs[split], leaves, level)
            keep = split_known & (given >= 0)
            for name, probabilities in (('ece_uncalibrated', outputs[split]['fused']),
                                        ('ece', calibrated[split]['fused'])):
                level_p = probabilities if level == 'articleType' else leaves.level_probabilities(probabilities, level)
                metrics[f'{split}.{key}.{name}'] = calibration.ece(level_p[keep], given[keep])
        class_p = leaves.level_probabilities(calibrated[split]['fused'], 'Class')
        metrics[f'{split}.ece'] = calibration.ece(class_p, outputs[split]['class_index'])
        metrics[f'{split}.ece_uncalibrated'] = calibration.ece(
            leaves.level_probabilities(outputs[split]['fused'], 'Class'), outputs[split]['class_index'])
        metrics[f'{split}.nll'] = calibration.nll(class_p, outputs[split]['class_index'])
        metrics[f'{split}.nll_uncalibrated'] = calibration.nll(
            leaves.level_probabilities(outputs[split]['fused'], 'Class'), outputs[split]['class_index'])
    flags = {head: flag_fits(calibrated['val'][head], val, leaves, groups) for head in model_lib.HEADS}
    evidence = {head: flags[head] for head in model_lib.HEADS if head != 'fused'}
    own_rates = {level: fit['own_noise_rate'] for level, fit in flags['fused'].items()}
    metrics['flag.max_given_probability'] = flags['fused']['class']['max_given_probability']
    metrics['flag_type.max_given_probability'] = flags['fused']['type']['max_given_probability']
    test_class = leaves.level_probabilities(calibrated['test']['fused'], 'Class')
    test_known = test['known']
    details = {'temperature': temperatures['fused'], 'temperatures': temperatures, 'fitted_on': 'val',
               'flag': flags['fused']['class'], 'flag_type': flags['fused']['type'],
               'evidence': evidence, 'single_evidence': single_evidence_fits(calibrated['val'], val, leaves, groups,
                                                                             evidence, own_rates),
               'test_reliability': {
                   'uncalibrated': calibration.reliability(leaves.level_probabilities(test['fused'], 'Class'),
                                                           test['class_index']),
                   'calibrated': calibration.reliability(test_class, test['class_index'])},
               'test_risk_coverage': calibration.risk_coverage(test_class, test['class_index']),
               'test_article_type_risk_coverage': calibration.risk_coverage(
                   calibrated['test']['fused'][test_known], test['leaf'][test_known])}
    return metrics, details, calibrated


def flag_fits(leaf_probabilities, outputs, leaves, groups):
    """The Class flag's and the articleType flag's threshold fits for one head's calibrated leaf probabilities."""
    class_p = leaves.level_probabilities(leaf_probabilities, 'Class')
    class_fit = flag_fit.fit_flag_threshold(class_p, outputs['class_index'], [groups[c] for c in leaves.classes])
    known = outputs['known']
    type_fit = flag_fit.fit_flag_threshold(leaf_probabilities[known], outputs['leaf'][known],
                                              list(leaves.class_names), within_group=True)
    return {'class': class_fit, 'type': type_fit}


def _alone(leaf_probabilities, given, leaves, level, threshold):
    """Whether one head alone flags each given label, as rules/predictions does one item at a time: `level`
    'class' (given: Class indexes) or 'type' (given: leaf indexes)."""
    rows = np.arange(len(given))
    if level == 'class':
        class_p = leaves.level_probabilities(leaf_probabilities, 'Class')
        return (class_p.argmax(axis=1) != given) & (class_p[rows, given] <= threshold)
    top, class_of = leaf_probabilities.argmax(axis=1), np.asarray(leaves.class_names)
    return ((top != given) & ~np.asarray(leaves.is_other())[top] & (class_of[top] == class_of[given])
            & (leaf_probabilities[rows, given] <= threshold))


def single_evidence_fits(calibrated, outputs, leaves, groups, evidence, own_rates):
    """{level: {kind: fit}}: for 'image', 'name' and 'combined' evidence, the flag's threshold fitted over the
    flags of that evidence only, crediting the items' own noise at the rate the fused flag's fit estimated
    (`own_rates` per level), with no fallback: a kind that reaches the precision nowhere flags nothing."""
    known = outputs['known']
    levels = {'class': (leaves.level_probabilities(calibrated['fused'], 'Class'), outputs['class_index'],
                        np.ones(len(known), bool), [groups[c] for c in leaves.classes], False),
              'type': (calibrated['fused'][known], outputs['leaf'][known], known, list(leaves.class_names), True)}
    fits = {}
    for level, (fused, labels, keep, level_groups, within_group) in levels.items():
        kinds = {}  # the three fits flip the same labels (one seed): each item's evidence is computed once

        def kind_of(given, level=level, keep=keep, kinds=kinds):
            key = given.tobytes()
            if key not in kinds:
                image, name = (_alone(calibrated[head][keep], given, leaves, level,
                                      evidence[head][level]['max_given_probability'])
                               for head in ('image_only', 'name_only'))
                kinds[key] = np.vectorize(predictions.evidence, otypes=[str])(image, name)
            return kinds[key]
        fits[level] = {kind: flag_fit.fit_flag_threshold(fused, labels, level_groups, within_group=within_group,
                                                         eligible=lambda given, kind=kind: kind_of(given) == kind,
                                                         fall_back=False, own_noise_rate=own_rates[level])
                       for kind in SINGLE_EVIDENCE}
    return fits


def evaluate_splits(model, data_dir, leaves, flip_test=False, attributes=None):
    """{split: predict(...)} for every split (the test split's mirrored images too with `flip_test`)."""
    return {split: predict(model, data_dir, split, leaves, flip_test and split == 'test', attributes)
            for split in SPLITS}

"""Evaluating and calibrating the full-labels model's attribute heads (gender, baseColour, usage, season:
rules/attributes.py), as trainer/full_labels.py does its articleType heads.

- Accuracy and macro F1 per attribute and head over the items whose value is given (an OTHER value counts as
  one); for the fused head also the accuracy with declared neighbours merged (`group_accuracy`: Navy Blue for
  Blue is right).
- A temperature per attribute and head, fitted on the val items with a value; ECE per attribute.
- The fill-in figures: the share of test items whose calibrated confidence reaches the fill-in threshold, and
  their accuracy.
- For the flagged attributes, the flag's threshold (the fused head) and each single head's (its evidence),
  fitted on val with labels flipped to another group of values, a flag standing only across groups; and, as for
  the type (trainer/full_labels.single_evidence_fits), a bar of its own for each kind of evidence short of both
  heads.
"""
import numpy as np

from pipelines.rules import attributes as attributes_lib, flag_fit, predictions
from trainer import calibration, full_labels, model as model_lib


def scores(outputs, attributes, split, head_probabilities=None):
    """metrics.json entries of one split: `{split}.{attribute}.…` for the fused head, `{split}.{head}.{attribute}.…`
    for the others."""
    out = {}
    for attribute, values in attributes.values.items():
        given = outputs[full_labels.given_key(attribute)]
        keep = given >= 0
        groups = np.array(attributes.groups[attribute])
        for head in model_lib.HEADS:
            probabilities = (head_probabilities or outputs)[model_lib.attribute_output(attribute, head)]
            prefix = split if head == 'fused' else f'{split}.{head}'
            for name, value in full_labels.level_scores(probabilities, given, keep).items():
                out[f'{prefix}.{attribute}.{name}'] = value
            if head == 'fused' and keep.any():
                out[f'{split}.{attribute}.group_accuracy'] = float(
                    np.mean(groups[probabilities[keep].argmax(axis=1)] == groups[given[keep]]))
        out[f'{split}.{attribute}.values'] = len(values)
    return out


def fill_in(probabilities, given, threshold=predictions.ACCEPT_MIN_CONFIDENCE):
    """(coverage, accuracy) of filling in the given values from calibrated probabilities at `threshold`, as if
    each were missing: the share of items that would be filled, and how many of those match (None: none would)."""
    keep = given >= 0
    confident = probabilities[keep].max(axis=1) >= threshold
    right = probabilities[keep].argmax(axis=1) == given[keep]
    return (float(confident.mean()) if keep.any() else 0.0,
            float(right[confident].mean()) if confident.any() else None)


def _flag_fit(probabilities, given, groups, own_noise_rate=None, only=None):
    """The threshold fit of one head's flag for one attribute: flips to another group, a flag only where the
    prediction is in another group than the given value, neither being unflaggable (OTHER, ANY), and, with
    `only` (noisy labels -> mask), only where it marks. No fallback: a head that reaches the precision nowhere
    flags nothing and is no evidence (a head that has not learnt an attribute would otherwise flag at random). A
    single head's fit, and a fit of one kind of evidence, take the items' own noise rate from the fused head's
    (`own_noise_rate`): they catch too few flips to estimate it, and an estimate capped at 1 would credit every
    false flag."""
    def eligible(labels):
        across = attributes_lib.flagged_many(probabilities, labels, groups, 1.0)
        return across & only(labels) if only is not None else across

    return flag_fit.fit_flag_threshold(probabilities, given, list(groups), eligible=eligible, fall_back=False,
                                       own_noise_rate=own_noise_rate)


def _flag_fits(calibrated, given, groups):
    """{'flag': the fused head's fit, 'evidence': each single head's threshold, 'single_evidence': the bar of each
    kind of evidence short of both heads}, on the val items with a value (`calibrated`: each head's calibrated
    probabilities of them, by model head)."""
    flag = _flag_fit(calibrated['fused'], given, groups)
    own_rate = flag['own_noise_rate']
    evidence = {head: _flag_fit(calibrated[head], given, groups, own_rate)['max_given_probability']
                for head in model_lib.HEADS if head != 'fused'}
    kinds = {}  # each item's evidence under the one set of flipped labels all the fits share

    def kind_of(labels):
        key = labels.tobytes()
        if key not in kinds:
            alone = [attributes_lib.flagged_many(calibrated[head], labels, groups, evidence[head])
                     for head in ('image_only', 'name_only')]
            kinds[key] = np.vectorize(predictions.evidence, otypes=[str])(*alone)
        return kinds[key]

    bars = {kind: _flag_fit(calibrated['fused'], given, groups, own_rate,
                            lambda labels, kind=kind: kind_of(labels) == kind)['max_given_probability']
            for kind in full_labels.SINGLE_EVIDENCE}
    return {'flag': flag, 'evidence': evidence, 'single_evidence': bars}


def calibrate(outputs, attributes):
    """Temperatures per attribute and head, ECE, fill-in figures and the flags' thresholds. Returns (metrics,
    {attribute: calibration details}, {split: calibrated attribute head probabilities})."""
    metrics, details = {}, {}
    calibrated = {split: {} for split in outputs}
    for attribute in attributes.values:
        val_given = outputs['val'][full_labels.given_key(attribute)]
        keep = val_given >= 0
        temperatures = {}
        for head in model_lib.HEADS:
            key = model_lib.attribute_output(attribute, head)
            temperatures[head] = (calibration.fit_temperature(outputs['val'][key][keep], val_given[keep])
                                  if keep.any() else 1.0)
            metrics[f'calibration.{attribute}.{head}.temperature'] = temperatures[head]
            for split in outputs:
                calibrated[split][key] = calibration.scale(outputs[split][key], temperatures[head])
        fused = model_lib.attribute_output(attribute, 'fused')
        for split in ('val', 'test'):
            given = outputs[split][full_labels.given_key(attribute)]
            known = given >= 0
            if known.any():
                metrics[f'{split}.{attribute}.ece_uncalibrated'] = calibration.ece(outputs[split][fused][known],
                                                                                   given[known])
                metrics[f'{split}.{attribute}.ece'] = calibration.ece(calibrated[split][fused][known], given[known])
        coverage, accuracy = fill_in(calibrated['test'][fused], outputs['test'][full_labels.given_key(attribute)])
        metrics[f'test.{attribute}.fill_in_coverage'] = coverage
        if accuracy is not None:
            metrics[f'test.{attribute}.fill_in_accuracy'] = accuracy
        details[attribute] = {'temperatures': temperatures}
        if attribute in attributes_lib.FLAGGED and keep.any():
            details[attribute].update(_flag_fits(
                {head: calibrated['val'][model_lib.attribute_output(attribute, head)][keep]
                 for head in model_lib.HEADS},
                val_given[keep], attributes.groups[attribute]))
            metrics[f'flag.{attribute}.max_given_probability'] = details[attribute]['flag']['max_given_probability']
    return metrics, details, calibrated

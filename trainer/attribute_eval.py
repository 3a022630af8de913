"""Evaluating and calibrating the full-labels model's attribute heads (gender, baseColour, usage, season:
rules/attributes.py), as trainer/full_labels.py does its articleType heads.

- Accuracy and macro F1 per attribute and head over the items whose value is given (an OTHER value counts as
  one); for the fused head also the accuracy with declared neighbours merged (`group_accuracy`: Navy Blue for
  Blue is right).
- A temperature per attribute and head, fitted on the val items with a value; ECE per attribute.
- The fill-in figures: the share of test items whose calibrated confidence reaches the fill-in threshold, and
  their accuracy.
- For the flagged attributes, the flag's threshold (the fused head) and each single head's (its evidence),
  fitted on val with labels flipped to another group of values, a flag standing only across groups.
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
    each were missing: the share of items that would be filled, and how many of those match."""
    keep = given >= 0
    confident = probabilities[keep].max(axis=1) >= threshold
    right = probabilities[keep].argmax(axis=1) == given[keep]
    return (float(confident.mean()) if keep.any() else float('nan'),
            float(right[confident].mean()) if confident.any() else float('nan'))


def _flag_fit(probabilities, given, groups, own_noise_rate=None):
    """The threshold fit of one head's flag for one attribute: flips to another group, a flag only where the
    prediction is in another group than the given value, neither being unflaggable (OTHER, ANY). No fallback: a head that reaches
    the precision nowhere flags nothing and is no evidence (a head that has not learnt an attribute would
    otherwise flag at random). A single head's fit takes the items' own noise rate from the fused head's
    (`own_noise_rate`): a weak head catches too few flips to estimate it, and its estimate, capped at 1, would
    credit every false flag."""
    groups = np.asarray(groups)
    predicted_group = groups[probabilities.argmax(axis=1)]

    unflaggable = np.vectorize(attributes_lib.unflaggable, otypes=[bool])

    def across(labels):
        return (predicted_group != groups[labels]) & ~unflaggable(predicted_group) & ~unflaggable(groups[labels])

    return flag_fit.fit_flag_threshold(probabilities, given, list(groups), eligible=across, fall_back=False,
                                       own_noise_rate=own_noise_rate)


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
        metrics.update({f'test.{attribute}.fill_in_coverage': coverage, f'test.{attribute}.fill_in_accuracy': accuracy})
        details[attribute] = {'temperatures': temperatures}
        if attribute in attributes_lib.FLAGGED and keep.any():
            def fit(head, own_noise_rate=None, attribute=attribute, keep=keep, val_given=val_given):
                return _flag_fit(calibrated['val'][model_lib.attribute_output(attribute, head)][keep],
                                 val_given[keep], attributes.groups[attribute], own_noise_rate)
            fits = {'fused': fit('fused')}
            fits.update({head: fit(head, fits['fused']['own_noise_rate'])
                         for head in model_lib.HEADS if head != 'fused'})
            details[attribute].update(flag=fits['fused'], evidence={
                head: fits[head]['max_given_probability'] for head in model_lib.HEADS if head != 'fused'})
            metrics[f'flag.{attribute}.max_given_probability'] = fits['fused']['max_given_probability']
    return metrics, details, calibrated

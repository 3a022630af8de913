"""One scored item as a record: the given labels next to the model's top classes, whether the given class looks
like a mislabel, whether a filled-in label needs a person; and how records are written to CSV (safe for
spreadsheets) and Parquet."""
import csv
import io
import typing

import numpy as np
import pyarrow as pa

from pipelines.rules import catalog
from pipelines.rules.taxonomy import UNKNOWN

TOP_K = 3
DISAGREE_MIN_CONFIDENCE = 0.5
ACCEPT_MIN_CONFIDENCE = 0.9
INFERENCE_BATCH_SIZE = 64  # images per RunInference batch, by default

PREDICTION_COLUMNS = (
    'id', 'productDisplayName', 'masterCategory', 'subCategory', 'articleType', 'given_class',
    'predicted_class', 'confidence', 'given_class_probability',
    *(f'top{k}_{field}' for k in range(1, TOP_K + 1) for field in ('class', 'probability')),
    'disagrees', 'needs_review', 'model_version', 'taxonomy_version', 'content_hash')
_FLOAT_COLUMNS = {'confidence', 'given_class_probability', 'image_mtime',
                  *(f'top{k}_probability' for k in range(1, TOP_K + 1))}
_BOOL_COLUMNS = {'disagrees', 'needs_review'}
_INT_COLUMNS = {'image_size'}
# Cells a spreadsheet would run as a formula (OWASP's list for CSV injection).
_FORMULA_PREFIXES = ('=', '+', '-', '@', '\t', '\r')


class Thresholds(typing.NamedTuple):
    """The scoring knobs (calibrated probabilities): a flag needs the predicted class at `disagree_min_confidence`
    at least; a label filled in for an Unknown item below `accept_min_confidence` is marked needs_review."""
    disagree_min_confidence: float = DISAGREE_MIN_CONFIDENCE
    accept_min_confidence: float = ACCEPT_MIN_CONFIDENCE


def flags_mislabel(given_class, predicted_class, confidence, given_class_probability, min_confidence,
                   max_given_probability):
    """Whether a known given class is a likely mislabel: the model predicts another class with at least
    `min_confidence` (the user's knob) and gives the given class at most `max_given_probability` (fitted on
    the val split, stored in the export). All probabilities are calibrated."""
    return (given_class not in (None, UNKNOWN) and predicted_class != given_class
            and confidence >= min_confidence and given_class_probability <= max_given_probability)


def flag_warning(max_given_probability, fit):
    """One line saying why the flags cannot be trusted to find mislabels, or None. A threshold of 0 flags
    nothing: an error state, never a quiet default. A fit that fell back to its stated rule says so (`fit` is
    the export's record of the threshold's fit, trainer/calibration.fit_flag_threshold; None for exports made
    before fits were recorded)."""
    fallback = (fit or {}).get('fallback')
    if max_given_probability <= 0:
        return f'the flag threshold is 0, so no mislabel can be flagged ({fallback or "no fitted threshold"})'
    if fallback:
        return f'the flag threshold ({max_given_probability:.4g}) is a fallback: {fallback}'
    return None


def prediction_record(row, probabilities, model, thresholds=Thresholds()):
    """One output row: the given labels next to the model's top classes (calibrated probabilities)."""
    top = np.argsort(-probabilities, kind='stable')[:TOP_K]
    predicted, confidence = model.classes[top[0]], float(probabilities[top[0]])
    given = row['given_class']
    given_probability = float(probabilities[model.classes.index(given)]) if given in model.classes else None
    record = {name: row[name] for name in ('id', 'productDisplayName', *catalog.LABEL_COLUMNS, 'given_class',
                                           'content_hash')}
    record.update(predicted_class=predicted, confidence=confidence, given_class_probability=given_probability,
                  disagrees=flags_mislabel(given, predicted, confidence, given_probability,
                                           thresholds.disagree_min_confidence, model.flag_max_given_probability),
                  needs_review=given == UNKNOWN and confidence < thresholds.accept_min_confidence,
                  model_version=model.export_id, taxonomy_version=model.taxonomy_hash)
    for k, index in enumerate(top, start=1):
        record[f'top{k}_class'], record[f'top{k}_probability'] = model.classes[index], float(probabilities[index])
    return record


def csv_safe(value):
    """Text a spreadsheet shows as text: a leading formula character is escaped with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_line(record, columns):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='').writerow([csv_safe(record.get(name)) for name in columns])
    return buffer.getvalue()


def parquet_schema(columns):
    return pa.schema([(name, pa.float64() if name in _FLOAT_COLUMNS else pa.bool_() if name in _BOOL_COLUMNS else
                       pa.int64() if name in _INT_COLUMNS else pa.string()) for name in columns])

"""One scored item as a record: the given labels next to the model's top classes, whether the given class looks
like a mislabel, whether a filled-in label needs a person; and how records are written to CSV (safe for
spreadsheets) and Parquet.

A full-labels model (rules/leaves.py) adds the whole label: the predicted masterCategory / subCategory /
articleType with their calibrated confidences (a parent's is the sum of its leaves'), the top articleTypes, the
articleType flag (`disagrees_type`) and which evidence disagrees with a flagged label (`evidence`); and, where the
release has attribute heads, each attribute's prediction, fill-in and flag (rules/attributes.py). An image-only
model leaves those columns empty.

The evidence rule: a flagged label's `evidence` names the heads that would flag it alone, each at its own
threshold fitted on val the same way as the fused one (trainer/full_labels.py): 'image', 'name', 'both', or
'combined' when neither alone is sure enough and only the two together flag it. A flag on any evidence short of
both stands only where the given label's probability is also under that evidence's own, stricter threshold,
fitted over such flags alone (trainer/full_labels.single_evidence_fits): they were the false flags on injected
noise. A release fitted before those thresholds has none.

A given articleType and the fused head's top type that the catalog team declared neighbours (rules/neighbours.py)
raise neither flag: which of the two an item carries is the taxonomy owner's question, not a mistake. Where a flag
was withheld for that reason, `neighbour_type` names the type the model prefers, counted apart from the flags.
Nor does a Class flag stand where the fused head's type is the given type: the Class then differs only because
the given masterCategory / subCategory are not the type's usual ones (a perfume filed under Accessories), a
placement the summaries count apart (rules/summaries.py), not a wrong label."""
import csv
import io
import typing

import numpy as np
import pyarrow as pa

from pipelines.rules import attributes as attributes_lib, catalog, neighbours as neighbours_lib
from pipelines.rules.taxonomy import UNKNOWN

TOP_K = 3
DISAGREE_MIN_CONFIDENCE = 0.5
ACCEPT_MIN_CONFIDENCE = 0.9
INFERENCE_BATCH_SIZE = 64  # images per RunInference batch, by default

FULL_LABEL_COLUMNS = (
    'predicted_master', 'master_confidence', 'predicted_sub', 'sub_confidence', 'predicted_type', 'type_confidence',
    'type_known', 'given_type_probability',
    *(f'top{k}_{field}' for k in range(1, TOP_K + 1) for field in ('type', 'type_probability')),
    'disagrees_type', 'evidence', 'neighbour_type')
PREDICTION_COLUMNS = (
    'id', 'productDisplayName', 'masterCategory', 'subCategory', 'articleType', 'given_class',
    'predicted_class', 'confidence', 'given_class_probability',
    *(f'top{k}_{field}' for k in range(1, TOP_K + 1) for field in ('class', 'probability')),
    'disagrees', 'needs_review', 'model_version', 'taxonomy_version', 'content_hash', *FULL_LABEL_COLUMNS,
    *attributes_lib.ATTRIBUTES, *attributes_lib.ALL_COLUMNS)
_FLOAT_COLUMNS = {'confidence', 'given_class_probability', 'image_mtime', 'master_confidence', 'sub_confidence',
                  'type_confidence', 'given_type_probability',
                  *(f'top{k}_probability' for k in range(1, TOP_K + 1)),
                  *(f'top{k}_type_probability' for k in range(1, TOP_K + 1)), *attributes_lib.FLOAT_COLUMNS}
_BOOL_COLUMNS = {'disagrees', 'needs_review', 'disagrees_type', 'type_known', *attributes_lib.BOOL_COLUMNS}
HEAD_OUTPUTS = {'fused': 'article_probabilities', 'image': 'image_article_probabilities',
                'name': 'name_article_probabilities'}  # the export's outputs per head (trainer/export.py)
_INT_COLUMNS = {'image_size'}
# What a reviewer settled for an item (rules/decisions.reviewed) and for each flagged attribute
# (rules/attribute_reviews.reviewed); empty until someone does.
REVIEW_COLUMNS = ('reviewed_class', 'reviewed_decision', 'reviewed_by', 'reviewed_at', *attributes_lib.REVIEWED_COLUMNS)
# Cells a spreadsheet would run as a formula (OWASP's list for CSV injection).
_FORMULA_PREFIXES = ('=', '+', '-', '@', '\t', '\r')


def _column_type(name):
    kind = float if name in _FLOAT_COLUMNS else bool if name in _BOOL_COLUMNS else int if name in _INT_COLUMNS else str
    return typing.Optional[kind]


def record_type(name, columns, doc, module):
    """A NamedTuple type with one field per column, typed as its Parquet column (parquet_schema) and None by
    default, and the item's `labels` ((masterCategory, subCategory, articleType)): the schema of a kind of record,
    written once as its column list. `module` is where it is defined (what pickling looks it up by)."""
    record = typing.NamedTuple(name, [(column, _column_type(column)) for column in columns])
    record.__new__.__defaults__ = (None,) * len(columns)
    record.__doc__, record.__module__ = doc, module
    record.labels = property(lambda self: tuple(getattr(self, c) for c in catalog.LABEL_COLUMNS))
    return record


def from_dict(data, record_kind):
    """A record of `record_kind` from a dict (a Parquet row): a column it lacks (a file written before the column
    existed) is None, one it has beyond them is left out."""
    return record_kind(**{name: data.get(name) for name in record_kind._fields})


def as_dict(record, columns):
    """A record's `columns`, as a Parquet row."""
    return {name: getattr(record, name) for name in columns}


Prediction = record_type(
    'Prediction', (*PREDICTION_COLUMNS, *REVIEW_COLUMNS, 'image_path', *catalog.IMAGE_FILE_COLUMNS),
    """One scored item: PREDICTION_COLUMNS (what `score` writes), the review columns (filled in by the nightly's
    ApplyReviews), the image's path (for the sample grids) and its file's metadata (for the nightly's catalog).""",
    __name__)


class Thresholds(typing.NamedTuple):
    """The scoring knobs (calibrated probabilities): a flag needs the predicted class at `disagree_min_confidence`
    at least; a label filled in for an Unknown item below `accept_min_confidence` is marked needs_review; a label
    and a prediction that are declared `neighbours` are never flagged."""
    disagree_min_confidence: float = DISAGREE_MIN_CONFIDENCE
    accept_min_confidence: float = ACCEPT_MIN_CONFIDENCE
    neighbours: neighbours_lib.Neighbours = neighbours_lib.NONE


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
    the export's record of the threshold's fit, rules/flag_fit.fit_flag_threshold; None for exports made
    before fits were recorded)."""
    fallback = (fit or {}).get('fallback')
    if max_given_probability <= 0:
        return f'the flag threshold is 0, so no mislabel can be flagged ({fallback or "no fitted threshold"})'
    if fallback:
        return f'the flag threshold ({max_given_probability:.4g}) is a fallback: {fallback}'
    return None


def _class_flag(leaves, leaf_p, given_class, threshold):
    """Whether one head's leaf probabilities alone flag the given Class, at `threshold`."""
    if given_class not in leaves.classes:
        return False
    class_p = leaves.level_probabilities(leaf_p[None, :], 'Class')[0]
    given = leaves.classes.index(given_class)
    return int(class_p.argmax()) != given and class_p[given] <= threshold


def _type_flag(leaves, leaf_p, given_leaf, threshold):
    """Whether one head's leaf probabilities alone flag the given articleType of a right Class, at `threshold`."""
    top = int(leaf_p.argmax())  # another type the model predicts, not a Class's other leaf (no type to suggest)
    return (top != given_leaf and not leaves.is_other()[top]
            and leaves.class_names[top] == leaves.class_names[given_leaf] and leaf_p[given_leaf] <= threshold)


def evidence(flagged_by_image, flagged_by_name):
    """The evidence column of a flagged label (the rule is in this module's docstring)."""
    if flagged_by_image and flagged_by_name:
        return 'both'
    return 'image' if flagged_by_image else 'name' if flagged_by_name else 'combined'


def _evidence(leaves, outputs, model, level, given):
    """The evidence of a flag at `level` ('class': `given` is the Class; 'type': the given leaf's index)."""
    alone = {}
    for head in ('image', 'name'):
        leaf_p, limits = np.asarray(outputs[HEAD_OUTPUTS[head]]), model.evidence_thresholds[f'{head}_only']
        alone[head] = (_class_flag(leaves, leaf_p, given, limits['class']) if level == 'class'
                       else _type_flag(leaves, leaf_p, given, limits['type']))
    return evidence(alone['image'], alone['name'])


def _below_bar(model, level, kind, given_probability):
    """Whether a flag on `kind` of evidence clears that evidence's own bar (a release fitted before such bars
    has none: its flags all share one threshold)."""
    bars = (model.single_evidence_thresholds or {}).get(level, {})
    return kind not in bars or given_probability <= bars[kind]


def full_label_fields(row, outputs, model, class_flagged, thresholds, class_withheld=False):
    """The FULL_LABEL_COLUMNS of one item and its final `disagrees`, from the export's calibrated leaf
    probabilities per head; `class_flagged`: the fused Class flag; `class_withheld`: the Class flag was withheld
    because the given and predicted types are neighbours. A flag on one kind of evidence short of both heads
    stands only below that evidence's own bar."""
    leaves, fused = model.leaves, np.asarray(outputs[HEAD_OUTPUTS['fused']])
    top = np.argsort(-fused, kind='stable')[:TOP_K]
    best, other = int(top[0]), leaves.is_other()
    fields = {'type_known': leaves.known(row.articleType) if row.articleType else None}
    for level, column in (('masterCategory', 'master'), ('subCategory', 'sub')):
        level_p = leaves.level_probabilities(fused[None, :], level)[0]
        fields[f'predicted_{column}'] = leaves.vocabulary(level)[int(level_p.argmax())]
        fields[f'{column}_confidence'] = float(level_p.max())
    fields.update(predicted_type=None if other[best] else leaves.article_types[best],
                  type_confidence=float(fused[best]))
    for k, index in enumerate(top, start=1):
        fields[f'top{k}_type'] = None if other[index] else leaves.article_types[index]
        fields[f'top{k}_type_probability'] = float(fused[index])
    given_leaf = leaves.index(row.articleType) if fields['type_known'] else -1
    fields['given_type_probability'] = float(fused[given_leaf]) if given_leaf >= 0 else None
    fields['evidence'] = _evidence(leaves, outputs, model, 'class', row.given_class) if class_flagged else None
    if class_flagged:
        class_p = leaves.level_probabilities(fused[None, :], 'Class')[0]
        given_class_p = class_p[leaves.classes.index(row.given_class)]
        class_flagged = _below_bar(model, 'class', fields['evidence'], given_class_p)
    fields['disagrees'] = class_flagged
    type_flag = bool(
        given_leaf >= 0 and not class_flagged and row.given_class == leaves.class_names[given_leaf]
        and fused[best] >= thresholds.disagree_min_confidence
        and _type_flag(leaves, fused, given_leaf, model.flag_type_max_given_probability))
    type_withheld = type_flag and thresholds.neighbours.declared(row.articleType, leaves.article_types[best])
    type_evidence = _evidence(leaves, outputs, model, 'type', given_leaf) if type_flag and not type_withheld else None
    fields['disagrees_type'] = bool(type_evidence) and _below_bar(model, 'type', type_evidence, fused[given_leaf])
    fields['neighbour_type'] = leaves.article_types[best] if class_withheld or type_withheld else None
    if not class_flagged:
        fields['evidence'] = type_evidence if fields['disagrees_type'] else None
    return fields


def attribute_fields(row, outputs, model, thresholds):
    """The attribute columns of one item (rules/attributes.py), from the export's calibrated attribute
    probabilities: each prediction and its confidence, whether a missing value is filled in, and for a flagged
    attribute whether the given value is likely wrong, with its evidence and its evidence's own bar (the type's
    rules). Empty for a release without attribute heads."""
    fields = dict.fromkeys(attributes_lib.ALL_COLUMNS)
    known = model.attributes.values if model.attributes else {}
    for attribute, values in known.items():
        column, probabilities = attributes_lib.COLUMN[attribute], np.asarray(
            outputs[attributes_lib.output_name(attribute)])
        top = int(probabilities.argmax())
        predicted = None if values[top] == attributes_lib.OTHER else values[top]
        given_value = getattr(row, attribute)
        fields.update({f'predicted_{column}': predicted, f'{column}_confidence': float(probabilities[top]),
                       f'{column}_filled': bool(attributes_lib.is_missing(given_value) and predicted is not None
                                                and probabilities[top] >= thresholds.accept_min_confidence)})
        limits = (model.attribute_thresholds or {}).get(attribute)
        if attribute not in attributes_lib.FLAGGED or not limits:
            continue
        given, groups = model.attributes.index(attribute, given_value), model.attributes.groups[attribute]
        flagged = attributes_lib.flagged(probabilities, given, groups, limits['flag'],
                                         thresholds.disagree_min_confidence)
        alone = {head: attributes_lib.flagged(np.asarray(outputs[attributes_lib.output_name(attribute, head)]),
                                              given, groups, limits[head], 0.0) for head in ('image', 'name')}
        kind = evidence(alone['image'], alone['name'])
        bar = limits.get('bars', {}).get(kind)  # a kind short of both heads clears a bar of its own
        flagged = flagged and (bar is None or probabilities[given] <= bar)
        fields[f'disagrees_{column}'] = flagged
        fields[f'{column}_evidence'] = kind if flagged else None
    return fields


def prediction_record(row, outputs, model, thresholds=Thresholds()):
    """One scored catalog row (a CatalogRow with its given class and content hash) as a Prediction: the given
    labels next to the model's top classes (calibrated probabilities), and for a full-labels model the whole
    label. `outputs` is the export's calibrated Class probabilities, or for a full-labels model a dict of its
    outputs (`probabilities` and each head's leaf probabilities)."""
    full = isinstance(outputs, dict)
    probabilities = np.asarray(outputs['probabilities']) if full else outputs
    top = np.argsort(-probabilities, kind='stable')[:TOP_K]
    predicted, confidence = model.classes[top[0]], float(probabilities[top[0]])
    given = row.given_class
    given_probability = float(probabilities[model.classes.index(given)]) if given in model.classes else None
    record = as_dict(row, ('id', 'productDisplayName', *catalog.LABEL_COLUMNS, 'given_class', 'content_hash',
                           'image_path', *catalog.IMAGE_FILE_COLUMNS, *attributes_lib.ATTRIBUTES))
    disagrees = flags_mislabel(given, predicted, confidence, given_probability,
                               thresholds.disagree_min_confidence, model.flag_max_given_probability)
    best_type = model.leaves.article_types[np.asarray(outputs[HEAD_OUTPUTS['fused']]).argmax()] if full else None
    withheld = full and disagrees and thresholds.neighbours.declared(row.articleType, best_type)
    disagrees = disagrees and not withheld and not (full and best_type == row.articleType)
    record.update(predicted_class=predicted, confidence=confidence, given_class_probability=given_probability,
                  disagrees=disagrees, needs_review=given == UNKNOWN and confidence < thresholds.accept_min_confidence,
                  model_version=model.export_id, taxonomy_version=model.taxonomy_hash)
    for k, index in enumerate(top, start=1):
        record[f'top{k}_class'], record[f'top{k}_probability'] = model.classes[index], float(probabilities[index])
    record.update(dict.fromkeys((*FULL_LABEL_COLUMNS, *attributes_lib.ALL_COLUMNS)))
    if full:
        record.update(attribute_fields(row, outputs, model, thresholds))
        record.update(full_label_fields(row, outputs, model, disagrees, thresholds, withheld))
        # a filled-in label is the articleType and its parents: it needs a person below the bar at type level
        record['needs_review'] = given == UNKNOWN and (record['predicted_type'] is None
                                                       or record['type_confidence'] < thresholds.accept_min_confidence)
    return Prediction(**record)


def csv_safe(value):
    """Text a spreadsheet shows as text: a leading formula character is escaped with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_line(record, columns):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='').writerow([csv_safe(getattr(record, name)) for name in columns])
    return buffer.getvalue()


def parquet_schema(columns):
    return pa.schema([(name, pa.float64() if name in _FLOAT_COLUMNS else pa.bool_() if name in _BOOL_COLUMNS else
                       pa.int64() if name in _INT_COLUMNS else pa.string()) for name in columns])

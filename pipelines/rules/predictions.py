"""One scored item as a record: the given labels next to the model's top classes; and how records are
written to CSV (safe for spreadsheets) and Parquet."""
import csv
import io

import numpy as np
import pyarrow as pa

from pipelines.rules import catalog
from pipelines.rules.taxonomy import UNKNOWN

TOP_K = 3
DISAGREE_MIN_CONFIDENCE = 0.9
INFERENCE_BATCH_SIZE = 64  # RunInference's largest batch, by default

PREDICTION_COLUMNS = (
    'id', 'productDisplayName', 'masterCategory', 'subCategory', 'articleType', 'given_class',
    'predicted_class', 'confidence',
    *(f'top{k}_{field}' for k in range(1, TOP_K + 1) for field in ('class', 'probability')),
    'disagrees', 'model_version', 'taxonomy_version', 'content_hash')
_FLOAT_COLUMNS = {'confidence', *(f'top{k}_probability' for k in range(1, TOP_K + 1))}
_BOOL_COLUMNS = {'disagrees'}
# Cells a spreadsheet would run as a formula (OWASP's list for CSV injection).
_FORMULA_PREFIXES = ('=', '+', '-', '@', '\t', '\r')


def prediction_record(row, probabilities, model, disagree_min_confidence):
    """One output row: the given labels next to the model's top classes."""
    top = np.argsort(-probabilities, kind='stable')[:TOP_K]
    predicted, confidence = model.classes[top[0]], float(probabilities[top[0]])
    record = {name: row[name] for name in ('id', 'productDisplayName', *catalog.LABEL_COLUMNS, 'given_class',
                                           'content_hash')}
    record.update(predicted_class=predicted, confidence=confidence,
                  disagrees=(row['given_class'] not in (UNKNOWN, predicted)
                             and confidence >= disagree_min_confidence),
                  model_version=model.version, taxonomy_version=model.taxonomy_version)
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
    return pa.schema([(name, pa.float64() if name in _FLOAT_COLUMNS else
                       pa.bool_() if name in _BOOL_COLUMNS else pa.string()) for name in columns])

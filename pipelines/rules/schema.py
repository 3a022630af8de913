"""The catalog's schema and what its statistics must satisfy: rows as Arrow record batches for TFDV, the
curated schema, and which anomalies break a run.

TFDV's own CSV decoder fails on malformed lines, so statistics are computed over the rows that passed the
shared reader, converted here to the Arrow record batches TFDV's GenerateStatistics consumes.
"""
import importlib.resources

import pyarrow as pa
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

from pipelines import artifacts
from pipelines.rules import catalog

SCHEMA_PATH = str(importlib.resources.files('schemas') / artifacts.SCHEMA)
INT_COLUMNS = ('id', 'year')
CATEGORICAL_COLUMNS = ('gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season',
                       'usage')
# Columns a row may leave empty: the labels and the attributes are what scoring fills in (rules/attributes.py).
OPTIONAL_COLUMNS = ('gender', 'baseColour', 'season', 'year', 'usage', *catalog.LABEL_COLUMNS)
DRIFT_THRESHOLD = 0.1
# Anomalies that warn (drift, new category values, sparse optional cells); every other kind breaks the run.
WARNING_TYPES = frozenset(anomalies_pb2.AnomalyInfo.Type.Value(name) for name in (
    'ENUM_TYPE_UNEXPECTED_STRING_VALUES', 'COMPARATOR_L_INFTY_HIGH',
    'COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH', 'COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH',
    'COMPARATOR_LOW_NUM_EXAMPLES', 'COMPARATOR_HIGH_NUM_EXAMPLES', 'DATASET_LOW_NUM_EXAMPLES',
    'DATASET_HIGH_NUM_EXAMPLES', 'FEATURE_TYPE_LOW_FRACTION_PRESENT', 'FEATURE_TYPE_LOW_NUMBER_PRESENT',
    'INT_TYPE_BIG_INT', 'INT_TYPE_SMALL_INT', 'SCHEMA_NEW_COLUMN'))


def _as_int(text):
    try:
        return int(text)
    except ValueError:
        return None


def to_record_batch(rows):
    """Rows -> one Arrow RecordBatch, a list column per styles.csv column; empty cells are missing.

    A non-integer in an integer column is left missing here and counted by `type_errors`."""
    arrays = []
    for column in catalog.COLUMNS:
        if column in INT_COLUMNS:
            values = [[v] if (v := _as_int(getattr(row, column))) is not None else None for row in rows]
            arrays.append(pa.array(values, type=pa.list_(pa.int64())))
        else:
            values = [[value.encode('utf-8')] if (value := getattr(row, column)) else None for row in rows]
            arrays.append(pa.array(values, type=pa.list_(pa.binary())))
    return pa.RecordBatch.from_arrays(arrays, list(catalog.COLUMNS))


def type_errors(row):
    """(column, value) for each non-empty cell of an integer column that is not an integer."""
    for column in INT_COLUMNS:
        value = getattr(row, column)
        if value and _as_int(value) is None:
            yield column, value


def load_schema(path=SCHEMA_PATH):
    return tfdv.load_schema_text(path)


def curate(inferred):
    """The inferred schema of the real catalog, curated: what a catalog must hold and what only warns.

    id and display name are required in every row; gender, colour, season, year and usage may be empty (the model
    fills them in), and so may the label columns (an unlabelled item is scored, and the validation reports the
    share); year is an
    integer in a plausible range; categorical columns carry drift comparators for nightly runs.
    """
    schema = schema_pb2.Schema()
    schema.CopyFrom(inferred)
    for feature in schema.feature:
        feature.ClearField('presence')
        feature.presence.min_count = 1
        if feature.name in OPTIONAL_COLUMNS:
            feature.ClearField('shape')  # a fixed shape would make every row hold a value
        else:
            feature.presence.min_fraction = 1.0
    year = tfdv.get_feature(schema, 'year')
    year.int_domain.min, year.int_domain.max = 2000, 2035
    for name in ('subCategory', 'articleType', 'baseColour'):
        feature = tfdv.get_feature(schema, name)
        feature.ClearField('domain')
    for name in CATEGORICAL_COLUMNS:
        tfdv.get_feature(schema, name).drift_comparator.jensen_shannon_divergence.threshold = DRIFT_THRESHOLD
    for domain in list(schema.string_domain):
        if domain.name not in {tfdv.get_feature(schema, f).domain for f in catalog.COLUMNS}:
            schema.string_domain.remove(domain)
    return schema


def classify_anomalies(anomalies):
    """Returns (breaking, warnings): readable lines, one per anomaly reason."""
    breaking, warnings = [], []
    for name, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason:
            line = f'{name}: {reason.short_description}: {reason.description}'
            (warnings if reason.type in WARNING_TYPES else breaking).append(line)
    if anomalies.HasField('dataset_anomaly_info'):
        for reason in anomalies.dataset_anomaly_info.reason:
            line = f'dataset: {reason.short_description}: {reason.description}'
            (warnings if reason.type in WARNING_TYPES else breaking).append(line)
    return breaking, warnings

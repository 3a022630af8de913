"""A kept catalog row as training data: its tf.train.Example, its manifest summary, or its unknown.csv line."""
import csv
import io

import pyarrow as pa
from tfx_bsl.coders import example_coder

UNKNOWN_COLUMNS = ('id', 'productDisplayName', 'best_match', 'similarity')
EXAMPLE_TEXT_FEATURES = ('masterCategory', 'subCategory', 'articleType', 'productDisplayName', 'gender', 'baseColour',
                         'usage', 'season')
_TEXT_FEATURES = ('id', 'class_name', *EXAMPLE_TEXT_FEATURES)
_BYTES, _INT64 = pa.list_(pa.binary()), pa.list_(pa.int64())


def encode_examples(items):
    """[(row, image bytes, class_index)] -> serialized tf.train.Examples with the features the trainer reads.

    tfx_bsl's C++ encoder (TFX's own Arrow -> Example path) serializes a batch many times faster than
    building tf.train.Example protos row by row, and it does not import TensorFlow, which each Beam worker
    would otherwise pay for before its first row (BENCHMARKS.md).
    """
    rows = [row for row, _, _ in items]
    arrays = [pa.array([[data] for _, data, _ in items], _BYTES),
              pa.array([[class_index] for _, _, class_index in items], _INT64)]
    arrays += [pa.array([[getattr(row, name).encode('utf-8')] for row in rows], _BYTES) for name in _TEXT_FEATURES]
    batch = pa.RecordBatch.from_arrays(arrays, ['image', 'class_index', *_TEXT_FEATURES])
    return example_coder.RecordBatchToExamples(batch)


def summary(row, split):
    """What the manifest needs to know of a kept row (with its content hash), without its image: a dict, as
    manifest.json holds it."""
    return dict({name: getattr(row, name) for name in (
        'id', 'class_name', 'label', 'masterCategory', 'subCategory', 'articleType', 'content_hash', 'relabel')},
        split=split)


def unknown_line(row):
    """An Unknown row as a line of unknown.csv."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='').writerow(
        [row.id, row.productDisplayName, row.relabel['best_match'], row.relabel['similarity']])
    return buffer.getvalue()

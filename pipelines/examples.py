"""The last stage before writing: each row's image is read once, checked, hashed and encoded.

Reading the bytes here, after every shuffle, keeps memory flat as the catalog grows: only small row dicts
travel through the joins and groupings before it.
"""
import csv
import io

import apache_beam as beam
import pyarrow as pa
from tfx_bsl.coders import example_coder

from pipelines import images
from pipelines.split import SPLITS, assign_split
from pipelines.taxonomy import UNKNOWN

UNKNOWN_COLUMNS = ('id', 'productDisplayName', 'best_match', 'similarity')
EXAMPLE_TEXT_FEATURES = ('masterCategory', 'subCategory', 'articleType', 'gender', 'baseColour')
_TEXT_FEATURES = ('id', 'class_name', *EXAMPLE_TEXT_FEATURES)
_BYTES, _INT64 = pa.list_(pa.binary()), pa.list_(pa.int64())
ENCODE_BATCH_SIZE = 256


def encode_examples(items):
    """[(row, image bytes, class_index)] -> serialized tf.train.Examples with the features the trainer reads.

    tfx_bsl's C++ encoder (TFX's own Arrow -> Example path) serializes a batch at ~11 us a row where
    tf.train.Example built row by row took ~230 us, and it does not import TensorFlow: each Beam worker
    would otherwise pay TensorFlow's ~8 s import before its first row.
    """
    rows = [row for row, _, _ in items]
    arrays = [pa.array([[data] for _, data, _ in items], _BYTES),
              pa.array([[class_index] for _, _, class_index in items], _INT64)]
    arrays += [pa.array([[row[name].encode('utf-8')] for row in rows], _BYTES) for name in _TEXT_FEATURES]
    batch = pa.RecordBatch.from_arrays(arrays, ['image', 'class_index', *_TEXT_FEATURES])
    return example_coder.RecordBatchToExamples(batch)


def summary(row, split, content_hash):
    """What the manifest needs to know of a kept row, without its image."""
    return {'id': row['id'], 'split': split, 'class_name': row['class_name'], 'label': row['label'],
            'masterCategory': row['masterCategory'], 'subCategory': row['subCategory'],
            'articleType': row['articleType'], 'content_hash': content_hash, 'relabel': row['relabel']}


class _CheckImages(beam.DoFn):
    def process(self, row, classes):
        data, quarantined = images.read_checked(row)
        if quarantined:
            yield beam.pvalue.TaggedOutput('quarantine', quarantined)
            return
        content_hash = images.content_hash(data)
        if row['class_name'] == UNKNOWN:
            yield beam.pvalue.TaggedOutput('summary', summary(row, None, content_hash))
            yield beam.pvalue.TaggedOutput('unknown', row)
            return
        split = assign_split(content_hash)
        yield beam.pvalue.TaggedOutput('summary', summary(row, split, content_hash))
        yield split, (row, data, classes.index(row['class_name']))


def _encode_batch(batch):
    for (split, _), serialized in zip(batch, encode_examples([item for _, item in batch]), strict=True):
        yield beam.pvalue.TaggedOutput(split, serialized)


class EncodeExamples(beam.PTransform):
    """Classified rows -> a dict of serialized tf.train.Examples under `train` / `val` / `test`, Unknown
    rows (`unknown`, not encoded), a `summary` dict per kept row, and `quarantine` for images that do not
    decode. `classes` is a singleton PCollection of the class vocabulary (index = class_index)."""

    def __init__(self, classes):
        super().__init__()
        self._classes = classes

    def expand(self, rows):
        checked = rows | 'read, check and hash images' >> beam.ParDo(
            _CheckImages(), beam.pvalue.AsSingleton(self._classes)).with_outputs(
                'unknown', 'summary', 'quarantine', main='kept')
        encoded = (checked.kept
                   | 'batch for encoding' >> beam.BatchElements(max_batch_size=ENCODE_BATCH_SIZE)
                   | 'encode examples' >> beam.FlatMap(_encode_batch).with_outputs(*SPLITS))
        return {**{split: encoded[split] for split in SPLITS}, 'unknown': checked.unknown,
                'summary': checked.summary, 'quarantine': checked.quarantine}


def unknown_line(row):
    """An Unknown row as a line of unknown.csv."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='').writerow(
        [row['id'], row['productDisplayName'], row['relabel']['best_match'], row['relabel']['similarity']])
    return buffer.getvalue()

"""The last stage before writing: each row's image is read once, checked, hashed and encoded.

Reading the bytes here, after every shuffle, keeps memory flat as the catalog grows: only small row dicts
travel through the joins and groupings before it.
"""
import csv
import io

import apache_beam as beam

from pipelines import images
from pipelines.split import assign_split
from pipelines.taxonomy import UNKNOWN

UNKNOWN_COLUMNS = ('id', 'productDisplayName', 'best_match', 'similarity')
EXAMPLE_TEXT_FEATURES = ('masterCategory', 'subCategory', 'articleType', 'gender', 'baseColour')


def make_example(row, image_bytes, class_index):
    """A tf.train.Example with the features the trainer reads."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (heavy: only where examples are made)

    def text(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode('utf-8')]))

    features = {
        'image': tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        'id': text(row['id']),
        'class_name': text(row['class_name']),
        'class_index': tf.train.Feature(int64_list=tf.train.Int64List(value=[class_index])),
    }
    features.update({name: text(row[name]) for name in EXAMPLE_TEXT_FEATURES})
    return tf.train.Example(features=tf.train.Features(feature=features))


def summary(row, split, content_hash):
    """What the manifest needs to know of a kept row, without its image."""
    return {'id': row['id'], 'split': split, 'class_name': row['class_name'], 'label': row['label'],
            'masterCategory': row['masterCategory'], 'subCategory': row['subCategory'],
            'articleType': row['articleType'], 'content_hash': content_hash, 'relabel': row['relabel']}


class _EncodeExamples(beam.DoFn):
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
        example = make_example(row, data, classes.index(row['class_name']))
        yield beam.pvalue.TaggedOutput(split, example.SerializeToString())


class EncodeExamples(beam.PTransform):
    """Classified rows -> serialized tf.train.Examples tagged `train` / `val` / `test`, Unknown rows
    (`unknown`, not encoded), a `summary` dict per kept row, and `quarantine` for images that do not decode.
    `classes` is a singleton PCollection of the class vocabulary (index = class_index)."""

    def __init__(self, classes):
        super().__init__()
        self._classes = classes

    def expand(self, rows):
        return rows | 'read, check and encode images' >> beam.ParDo(
            _EncodeExamples(), beam.pvalue.AsSingleton(self._classes)).with_outputs(
                'train', 'val', 'test', 'unknown', 'summary', 'quarantine')


def unknown_line(row):
    """An Unknown row as a line of unknown.csv."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='').writerow(
        [row['id'], row['productDisplayName'], row['relabel']['best_match'], row['relabel']['similarity']])
    return buffer.getvalue()

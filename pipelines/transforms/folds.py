"""The audit's training data: a prepared folder's examples, each in its fold, rewritten as one prepared-like
folder per audit model (train / val / test = trains on, holds out, audits), and a listing of every item's
fold. The folds group items by image and by display name (rules/folds.py), a global step: every item's
(name, content hash) is gathered once, and the assignment reaches the routing as a side input."""
import csv
import hashlib
import io

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from tfx_bsl.coders import example_coder

from pipelines import artifacts
from pipelines.rules import folds as folds_lib
from pipelines.rules.split import SPLITS

DECODE_BATCH_SIZE = 256
LISTING_COLUMNS = ('id', 'class_name', 'masterCategory', 'subCategory', 'articleType', 'split', 'fold', 'holdout',
                   'content_hash', 'group', 'productDisplayName')
_TEXT = ('id', 'class_name', 'masterCategory', 'subCategory', 'articleType', 'productDisplayName')


def model_dir(output, fold):
    """The prepared-like folder of the model that audits `fold`."""
    return FileSystems.join(output, f'fold-{fold}')


def _items(batch):
    """[(split, serialized example)] -> (item, serialized): the item's text fields, split and content hash (the
    image bytes' SHA-256, as prepare computed it for the split)."""
    decoded = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch([serialized for _, serialized in batch])
    columns = {name: decoded.column(name).to_pylist() for name in (*_TEXT, 'image')}
    for n, (split, serialized) in enumerate(batch):
        item = {name: (columns[name][n] or [b''])[0].decode('utf-8', 'replace') for name in _TEXT}
        item.update(split=split, content_hash=hashlib.sha256(columns['image'][n][0]).hexdigest())
        yield item, serialized


def _assign(items, folds):
    """[item] -> {id: (fold, held out, group)} (rules/folds.assign)."""
    return folds_lib.assign([i['id'] for i in items], [i['productDisplayName'] for i in items],
                            [i['content_hash'] for i in items], folds)


def _placed(item_and_example, assignment):
    item, serialized = item_and_example
    fold, holdout, group = assignment[item['id']]
    return dict(item, fold=fold, holdout=holdout, group=group), serialized


def _by_model_role(item_and_example, folds):
    item, serialized = item_and_example
    for model_fold in range(folds):
        yield beam.pvalue.TaggedOutput(f'{model_fold}/{folds_lib.role(item["fold"], item["holdout"], model_fold)}',
                                       serialized)


def _listing_line(item):
    line = io.StringIO()
    csv.writer(line, lineterminator='').writerow([item[name] for name in LISTING_COLUMNS])
    return line.getvalue()


class WriteFolds(beam.PTransform):
    """PBegin -> the items' listing (dicts of LISTING_COLUMNS). Reads `prepared`'s TFRecords and writes, for each
    of `folds` models, OUTPUT/fold-<k>/tfrecords/{train,val,test}-*.tfrecord.gz, and OUTPUT/folds.csv."""

    def __init__(self, prepared, output, folds):
        super().__init__()
        self._prepared, self._output, self._folds = prepared, output, folds

    def expand(self, pbegin):
        read = [pbegin
                | f'read {split}' >> beam.io.ReadFromTFRecord(artifacts.tfrecord_pattern(self._prepared, split))
                | f'tag {split}' >> beam.Map(lambda serialized, split=split: (split, serialized))
                for split in SPLITS]
        items = (read
                 | 'all splits' >> beam.Flatten()
                 | 'batch for decoding' >> beam.BatchElements(max_batch_size=DECODE_BATCH_SIZE)
                 | 'decode' >> beam.FlatMap(_items))
        assignment = (items
                      | 'name and image' >> beam.Map(lambda pair: {k: pair[0][k] for k in
                                                                   ('id', 'productDisplayName', 'content_hash')})
                      | 'gather' >> beam.combiners.ToList()
                      | 'group into folds' >> beam.Map(_assign, self._folds))
        items = items | 'place' >> beam.Map(_placed, beam.pvalue.AsSingleton(assignment))
        tags = [f'{fold}/{role}' for fold in range(self._folds) for role in folds_lib.ROLES]
        routed = items | 'route to models' >> beam.FlatMap(_by_model_role, self._folds).with_outputs(*tags)
        for tag in tags:
            fold, role = tag.split('/')
            _ = routed[tag] | f'write fold {fold} {role}' >> beam.io.WriteToTFRecord(
                FileSystems.join(model_dir(self._output, fold), artifacts.TFRECORDS, role),
                file_name_suffix=artifacts.TFRECORD_SUFFIX)
        listing = items | 'item only' >> beam.Map(lambda pair: pair[0])
        _ = (listing
             | 'listing line' >> beam.Map(_listing_line)
             | 'write listing' >> beam.io.WriteToText(
                 FileSystems.join(self._output, artifacts.FOLDS_CSV), num_shards=1,
                 shard_name_template='', header=','.join(LISTING_COLUMNS)))
        return listing

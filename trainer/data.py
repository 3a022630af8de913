"""tf.data input over the prepared, sharded GZIP TFRecords."""
import collections
import os

import numpy as np
import tensorflow as tf

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.rules import attributes as attributes_lib, leaves as leaves_lib
from trainer import features, model as model_lib

BATCH_SIZE = 32
SHUFFLE_BUFFER = 10_000
DECODE_BATCH = 32
LEAF = 'leaf'  # the articleType leaf among an item's labels, beside the attributes'


def read_prepared(data_dir):
    """(manifest.json text, class names in class_index order) of a prepare job output."""
    texts = {}
    for name in (artifacts.MANIFEST, artifacts.LABELS):
        path = os.path.join(data_dir, name)
        if not tf.io.gfile.exists(path):
            raise UserError(f'{data_dir!r} is not a prepare output: no {name}')
        with tf.io.gfile.GFile(path) as f:
            texts[name] = f.read()
    return texts[artifacts.MANIFEST], tuple(texts[artifacts.LABELS].splitlines())


def records_by_id(shards):
    """A split's serialized examples in one canonical order, by id, whichever shard a runner put each in: so
    the same seed and the same examples give the same training order, and the same model (prepare's shards
    are runner-determined, one per bundle). Only the compressed records are held, not decoded images."""
    records, ids = [], []
    for batch in tf.data.TFRecordDataset(sorted(shards), compression_type='GZIP').batch(1024):
        records += list(batch.numpy())
        ids += [int(i) for i in tf.io.parse_example(batch, {'id': features.FEATURE_SPEC['id']})['id'].numpy()]
    order = np.argsort(ids, kind='stable')
    return tf.data.Dataset.from_tensor_slices(np.array(records, dtype=object)[order])


def train_counts(data_dir):
    """The training split's item counts by (masterCategory, subCategory, articleType, Class), its display names in
    id order, and each attribute's value counts: what the full-labels model's leaves, text vocabularies and
    attribute values are fitted on."""
    columns = (*leaves_lib.LEVELS, 'class_name')
    spec = {name: features.FEATURE_SPEC[name] for name in ('productDisplayName', *columns, *attributes_lib.ATTRIBUTES)}
    counts, names = collections.Counter(), []
    values = {name: collections.Counter() for name in attributes_lib.ATTRIBUTES}
    for batch in records_by_id(tf.io.gfile.glob(artifacts.tfrecord_pattern(data_dir, 'train'))).batch(1024):
        parsed = tf.io.parse_example(batch, spec)
        counts.update(zip(*[[v.decode('utf-8') for v in parsed[name].numpy()] for name in columns]))
        names += [v.decode('utf-8', 'replace') for v in parsed['productDisplayName'].numpy()]
        for name, counter in values.items():
            counter.update(v.decode('utf-8') for v in parsed[name].numpy())
    return counts, names, values


def _leaf_lookup(leaves):
    """articleType and Class tensors -> the leaf each item trains (leaves.index, in TensorFlow)."""
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(leaves.article_types), tf.range(len(leaves.article_types), dtype=tf.int64)), default_value=-1)

    def lookup(article_types, class_names):
        leaf = table.lookup(article_types)
        return tf.where(leaf >= 0, leaf, table.lookup(leaves_lib.OTHER + class_names))

    return lookup


def _attribute_lookup(attributes):
    """{attribute: string tensor -> the index it trains (-1: missing)} (attributes.Attributes.index, in TensorFlow)."""
    lookups = {}
    for name, values in attributes.values.items():
        fallback = values.index(attributes_lib.OTHER) if attributes_lib.OTHER in values else -1
        keys = [*values, *attributes_lib.MISSING]
        indices = [*range(len(values)), *[-1] * len(attributes_lib.MISSING)]
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys), tf.constant(indices, tf.int64)), default_value=fallback)
        lookups[name] = lambda value, table=table: table.lookup(tf.strings.strip(value))
    return lookups


def make_dataset(data_dir, split, channels=3, training=False, batch_size=BATCH_SIZE, cache=True, seed=42,
                 with_ids=False, augment=None, leaves=None, attributes=None):
    """Batches of (images float32 [B, 80, 60, C], class_index int64 [B]), or (images, labels, ids).

    With `leaves` (the full-labels model, rules/leaves.py) the inputs are {'image', 'name'} and the labels
    {head: leaf index} for each of model.HEADS; only items of a known articleType are kept (a rarer type has no
    leaf to learn). With `attributes` (rules/attributes.py) the labels also hold each attribute head's value index
    (-1 where the value is missing: the loss skips it).

    Records are parsed and decoded DECODE_BATCH at a time, in parallel: one batched parse and one map call
    per 32 records cost far less than one per record (BENCHMARKS.md). Training data starts in a canonical
    order (records_by_id); other splits read their shards in turn, not in parallel: one thread reads a shard
    several times faster than the model consumes it. Decoded uint8
    images are cached in memory (the JPEG decode is then paid once, not every epoch); training data is
    shuffled after the cache and each batch goes through `augment` (Keras preprocessing layers,
    `recipe.augmentation`; by default a left-right flip, the reference notebook's only augmentation), so each epoch sees
    new variants.
    """
    pattern = artifacts.tfrecord_pattern(data_dir, split)
    shards = tf.io.gfile.glob(pattern)
    if not shards:
        raise FileNotFoundError(f'no TFRecords match {pattern}')
    if training:
        records = records_by_id(shards)
    else:
        records = tf.data.Dataset.list_files(pattern, shuffle=False).interleave(
            lambda path: tf.data.TFRecordDataset(path, compression_type='GZIP'), cycle_length=len(shards))

    table = _leaf_lookup(leaves) if leaves else None
    attribute_tables = _attribute_lookup(attributes) if attributes else {}

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features.FEATURE_SPEC)
        images = features.decode_images(parsed['image'], channels)
        if table is None:
            return images, parsed['class_index'], parsed['id']
        labels = {name: lookup(parsed[name]) for name, lookup in attribute_tables.items()}
        labels[LEAF] = table(parsed['articleType'], parsed['class_name'])
        return {'image': images, 'name': parsed['productDisplayName']}, labels, parsed['id']

    dataset = records.batch(DECODE_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if table is not None:
        dataset = dataset.filter(lambda inputs, labels, ids: labels[LEAF] >= 0)
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    if training and augment is None:
        augment = tf.image.random_flip_left_right

    def finish(inputs, labels, ids):
        images = features.rescale(inputs['image'] if table is not None else inputs)
        if training:
            images = augment(images)
        if table is not None:
            inputs = dict(inputs, image=images)
            labels = {**{head: labels[LEAF] for head in model_lib.HEADS},
                      **{model_lib.attribute_output(name, head): labels[name]
                         for name in attribute_tables for head in model_lib.HEADS}}
        else:
            inputs = images
        return (inputs, labels, ids) if with_ids else (inputs, labels)

    return dataset.batch(batch_size).map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def labelled_batches(data_dir, split, channels=3, batch_size=256):
    """Every item of a split in file order, known articleType or not, as batches of its parsed features with
    the image decoded and rescaled: what evaluating the full-labels model needs at every level."""
    pattern = artifacts.tfrecord_pattern(data_dir, split)
    if not tf.io.gfile.glob(pattern):
        raise FileNotFoundError(f'no TFRecords match {pattern}')
    records = tf.data.Dataset.list_files(pattern, shuffle=False).interleave(
        lambda path: tf.data.TFRecordDataset(path, compression_type='GZIP'), cycle_length=1)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features.FEATURE_SPEC)
        return dict(parsed, image=features.rescale(features.decode_images(parsed['image'], channels)))

    return records.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

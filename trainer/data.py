"""tf.data input over the prepared, sharded GZIP TFRecords."""
import os

import numpy as np
import tensorflow as tf

from pipelines import artifacts
from pipelines.errors import UserError
from trainer import features

BATCH_SIZE = 32
SHUFFLE_BUFFER = 10_000
DECODE_BATCH = 32


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


def make_dataset(data_dir, split, channels=3, training=False, batch_size=BATCH_SIZE, cache=True, seed=42,
                 with_ids=False, augment=None):
    """Batches of (images float32 [B, 80, 60, C], class_index int64 [B]), or (images, labels, ids).

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

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, features.FEATURE_SPEC)
        return features.decode_images(parsed['image'], channels), parsed['class_index'], parsed['id']

    dataset = records.batch(DECODE_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    if training and augment is None:
        augment = tf.image.random_flip_left_right

    def finish(images, labels, ids):
        images = features.rescale(images)
        if training:
            images = augment(images)
        return (images, labels, ids) if with_ids else (images, labels)

    return dataset.batch(batch_size).map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

"""tf.data input over the prepared, sharded GZIP TFRecords."""
import os

import tensorflow as tf

from pipelines.errors import UserError

from trainer import features

BATCH_SIZE = 32
SHUFFLE_BUFFER = 10_000


def read_prepared(data_dir):
    """(manifest.json text, class names in class_index order) of a prepare job output."""
    texts = {}
    for name in ('manifest.json', 'labels.txt'):
        path = os.path.join(data_dir, name)
        if not tf.io.gfile.exists(path):
            raise UserError(f'{data_dir!r} is not a prepare output: no {name}')
        with tf.io.gfile.GFile(path) as f:
            texts[name] = f.read()
    return texts['manifest.json'], tuple(texts['labels.txt'].splitlines())


def tfrecord_pattern(data_dir, split):
    return f'{data_dir.rstrip("/")}/tfrecords/{split}-*.tfrecord.gz'


def make_dataset(data_dir, split, channels=3, training=False, batch_size=BATCH_SIZE, cache=True, seed=42,
                 with_ids=False):
    """Batches of (images float32 [B, 80, 60, C], class_index int64 [B]), or (images, labels, ids).

    Shards are read in parallel; decoded uint8 images are cached in memory (the JPEG decode is then paid
    once, not every epoch); training data is shuffled and randomly flipped left-right (the seed's only
    augmentation) after the cache, so each epoch sees new flips.
    """
    pattern = tfrecord_pattern(data_dir, split)
    if not tf.io.gfile.glob(pattern):
        raise FileNotFoundError(f'no TFRecords match {pattern}')
    files = tf.data.Dataset.list_files(pattern, shuffle=training, seed=seed)
    dataset = files.interleave(lambda path: tf.data.TFRecordDataset(path, compression_type='GZIP'),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)

    def parse(record):
        parsed = tf.io.parse_single_example(record, features.FEATURE_SPEC)
        return features.decode_image(parsed['image'], channels), parsed['class_index'], parsed['id']

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    def finish(image, label, example_id):
        if training:
            image = tf.image.random_flip_left_right(image)
        image = features.rescale(image)
        return (image, label, example_id) if with_ids else (image, label)

    return dataset.map(finish, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)

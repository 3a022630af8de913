"""The serving export: one versioned SavedModel that takes raw JPEG bytes.

Decoding and resizing live inside the model, so the scoring job, TF Serving and a notebook preprocess
exactly as training did. Keras 3's `load_model` cannot open it: load with `tf.saved_model.load`.
"""
import hashlib
import json
import os
import time

import keras
import tensorflow as tf

from pipelines import artifacts
from trainer import features


def export(model, classes, channels, export_root, extra_files):
    """Writes export_root/<version>/ (version = seconds since the epoch) and returns its path.

    `extra_files` maps a file name to its text, written under assets.extra/ (labels, taxonomy, lineage).
    """
    class_names = tf.constant(list(classes))

    def serve(image_bytes):
        images = features.rescale(features.decode_images(image_bytes, channels))
        probabilities = model(images, training=False)
        top = tf.argmax(probabilities, axis=1)
        return {'probabilities': probabilities, 'class_name': tf.gather(class_names, top),
                'confidence': tf.reduce_max(probabilities, axis=1)}

    version = str(int(time.time()))
    path = os.path.join(export_root, version)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=artifacts.SERVING_SIGNATURE, fn=serve,
                         input_signature=[tf.TensorSpec([None], tf.string, name='image_bytes')])
    staging = f'{path}.tmp'
    archive.write_out(staging, verbose=False)
    tf.io.gfile.makedirs(os.path.join(staging, artifacts.ASSETS_EXTRA))
    for name, text in extra_files.items():
        with tf.io.gfile.GFile(os.path.join(staging, artifacts.ASSETS_EXTRA, name), 'w') as f:
            f.write(text)
    tf.io.gfile.rename(staging, path)
    return path


def load(path):
    """(serving function, assets.extra texts) of an exported model."""
    loaded = tf.saved_model.load(path)
    extra = {}
    for name in tf.io.gfile.listdir(os.path.join(path, artifacts.ASSETS_EXTRA)):
        with tf.io.gfile.GFile(os.path.join(path, artifacts.ASSETS_EXTRA, name)) as f:
            extra[name] = f.read()
    return loaded, extra


def lineage(manifest_text, args, code_revision):
    """Where a model came from: the hash of its training data's manifest, the code, the arguments."""
    return json.dumps({'training_data_manifest_sha256': hashlib.sha256(manifest_text.encode('utf-8')).hexdigest(),
                       'code_revision': code_revision, 'training_args': args}, indent=1, sort_keys=True)

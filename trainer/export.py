"""The serving export: one versioned SavedModel that takes raw JPEG bytes.

Decoding and resizing live inside the model, so the scoring job, TF Serving and a notebook preprocess
exactly as training did. Keras 3's `load_model` cannot open it: load with `tf.saved_model.load`.
"""
import hashlib
import json
import os
import subprocess
import time

import keras
import tensorflow as tf

from pipelines import artifacts
from pipelines.storage import files
from trainer import features


def export(model, classes, channels, export_root, extra_files, temperature=1.0):
    """Writes export_root/<version>/ (version = seconds since the epoch) and returns its path.

    The served probabilities are calibrated: softmax(log p / temperature) of the model's p (trainer/calibration.py).
    `extra_files` maps a file name to its text, written under assets.extra/ (labels, taxonomy, lineage,
    calibration).
    """
    class_names = tf.constant(list(classes))

    def serve(image_bytes):
        images = features.rescale(features.decode_images(image_bytes, channels))
        raw = model(images, training=False)
        probabilities = tf.nn.softmax(tf.math.log(tf.maximum(raw, 1e-12)) / temperature, axis=1)
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


def export_trained(model, data_dir, model_dir, classes, metrics, training_args):
    """Exports a trained and evaluated model into MODEL_DIR/export/ with its labels, taxonomy, lineage and
    calibration (the temperature and flag threshold `metrics` holds); returns the export's path."""
    manifest_text = files.read_text(os.path.join(data_dir, artifacts.MANIFEST))
    temperature = metrics['calibration.temperature']
    fit = files.read_json(os.path.join(model_dir, artifacts.CALIBRATION))['flag']
    return export(model, classes, model.input_shape[-1], os.path.join(model_dir, artifacts.EXPORT), {
        artifacts.LABELS: ''.join(f'{name}\n' for name in classes),
        artifacts.TAXONOMY: files.read_text(os.path.join(data_dir, artifacts.TAXONOMY)),
        artifacts.LINEAGE: lineage(manifest_text, training_args, code_revision()),
        artifacts.CALIBRATION: json.dumps({'temperature': temperature, 'fitted_on': 'val',
                                           'flag_max_given_probability': metrics['flag.max_given_probability'],
                                           'flag_fit': fit}, indent=1),
    }, temperature)


def code_revision():
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


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

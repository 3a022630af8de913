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
from pipelines.rules import attributes as attributes_lib
from trainer import features, model as model_lib


# The full-labels model's served leaf probabilities per head (trainer/model.HEADS), each calibrated by its own
# temperature; `probabilities` is always the Class's.
HEAD_OUTPUTS = {'fused': 'article_probabilities', 'image_only': 'image_article_probabilities',
                'name_only': 'name_article_probabilities'}


def _calibrated(raw, temperature):
    return tf.nn.softmax(tf.math.log(tf.maximum(raw, 1e-12)) / temperature, axis=1)


def _class_outputs(probabilities, class_names):
    top = tf.argmax(probabilities, axis=1)
    return {'probabilities': probabilities, 'class_name': tf.gather(class_names, top),
            'confidence': tf.reduce_max(probabilities, axis=1)}


def image_endpoint(model, classes, channels, temperature):
    """The image-only models' signature: JPEG bytes -> calibrated Class probabilities."""
    class_names = tf.constant(list(classes))

    def serve(image_bytes):
        images = features.rescale(features.decode_images(image_bytes, channels))
        return _class_outputs(_calibrated(model(images, training=False), temperature), class_names)

    return serve, [tf.TensorSpec([None], tf.string, name='image_bytes')]


# The heads of the model (trainer/model.HEADS) by the names the scorer knows them (rules/attributes.HEADS).
ATTRIBUTE_HEADS = {'fused': 'fused', 'image_only': 'image', 'name_only': 'name'}


def full_labels_endpoint(model, leaves, channels, temperatures, attribute_temperatures=None):
    """The full-labels model's signature: JPEG bytes and the raw display name (any bytes: the model cleans them)
    -> each head's calibrated leaf probabilities (HEAD_OUTPUTS) and the Class's, summed from the fused
    leaves (rules/leaves.py); and each attribute head's calibrated probabilities (rules/attributes.output_name),
    with `attribute_temperatures` ({attribute: {head: temperature}})."""
    class_names, to_class = tf.constant(list(leaves.classes)), tf.constant(leaves.matrix('Class'))

    def serve(image_bytes, name):
        images = features.rescale(features.decode_images(image_bytes, channels))
        raw = model({'image': images, 'name': name}, training=False)
        heads = {key: _calibrated(raw[head], temperatures[head]) for head, key in HEAD_OUTPUTS.items()}
        for attribute, by_head in (attribute_temperatures or {}).items():
            heads.update({attributes_lib.output_name(attribute, ATTRIBUTE_HEADS[head]): _calibrated(
                raw[model_lib.attribute_output(attribute, head)], t) for head, t in by_head.items()})
        return {**heads, **_class_outputs(tf.matmul(heads['article_probabilities'], to_class), class_names)}

    return serve, [tf.TensorSpec([None], tf.string, name='image_bytes'), tf.TensorSpec([None], tf.string, name='name')]


def export(model, endpoint, export_root, extra_files):
    """Writes export_root/<version>/ (version = seconds since the epoch) with `endpoint` ((function, input
    signature): image_endpoint or full_labels_endpoint) as its serving signature, and returns its path.

    The served probabilities are calibrated: softmax(log p / temperature) of the model's p (trainer/calibration.py).
    `extra_files` maps a file name to its text, written under assets.extra/ (labels, taxonomy, lineage,
    calibration, and the leaves of a full-labels model).
    """
    serve, signature = endpoint
    version = str(int(time.time()))
    path = os.path.join(export_root, version)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=artifacts.SERVING_SIGNATURE, fn=serve, input_signature=signature)
    staging = f'{path}.tmp'
    archive.write_out(staging, verbose=False)
    tf.io.gfile.makedirs(os.path.join(staging, artifacts.ASSETS_EXTRA))
    for name, text in extra_files.items():
        with tf.io.gfile.GFile(os.path.join(staging, artifacts.ASSETS_EXTRA, name), 'w') as f:
            f.write(text)
    tf.io.gfile.rename(staging, path)
    return path


def export_trained(model, data_dir, model_dir, classes, metrics, training_args, leaves=None, attributes=None):
    """Exports a trained and evaluated model into MODEL_DIR/export/ with its labels, taxonomy, lineage and
    calibration (the temperatures and flag thresholds of its calibration.json), and a full-labels model's
    leaves and attributes; returns the export's path."""
    manifest_text = files.read_text(os.path.join(data_dir, artifacts.MANIFEST))
    details = files.read_json(os.path.join(model_dir, artifacts.CALIBRATION))
    calibration = {'temperature': metrics['calibration.temperature'], 'fitted_on': 'val',
                   'flag_max_given_probability': metrics['flag.max_given_probability'], 'flag_fit': details['flag']}
    extra = {artifacts.LABELS: ''.join(f'{name}\n' for name in classes),
             artifacts.TAXONOMY: files.read_text(os.path.join(data_dir, artifacts.TAXONOMY)),
             artifacts.LINEAGE: lineage(manifest_text, training_args, code_revision())}
    if leaves is None:
        endpoint = image_endpoint(model, classes, model.input_shape[-1], calibration['temperature'])
    else:
        attribute_details = details.get('attributes', {}) if attributes else {}
        endpoint = full_labels_endpoint(model, leaves, model.input['image'].shape[-1], details['temperatures'],
                                        {a: d['temperatures'] for a, d in attribute_details.items()})
        extra[artifacts.LEAVES] = leaves.to_json()
        if attributes:
            extra[artifacts.ATTRIBUTES] = attributes.to_json()
            calibration['attributes'] = {a: {'flag_max_given_probability': d['flag']['max_given_probability'],
                                             'flag_fit': d['flag'], 'evidence': d['evidence'],
                                             'single_evidence': d['single_evidence']}
                                         for a, d in attribute_details.items() if 'flag' in d}
        calibration.update(temperatures=details['temperatures'],
                           flag_type_max_given_probability=details['flag_type']['max_given_probability'],
                           flag_type_fit=details['flag_type'],
                           evidence={head: {kind: fit['max_given_probability'] for kind, fit in fits.items()}
                                     for head, fits in details['evidence'].items()},
                           single_evidence={level: {kind: fit['max_given_probability'] for kind, fit in fits.items()}
                                            for level, fits in details['single_evidence'].items()})
    extra[artifacts.CALIBRATION] = json.dumps(calibration, indent=1)
    return export(model, endpoint, os.path.join(model_dir, artifacts.EXPORT), extra)


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

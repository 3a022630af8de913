"""A small fake export: a SavedModel with the serving signature of trainer/export.py that decodes its images as the
real one does (so a batch with a JPEG that does not decode fails) and gives every image the same calibrated
probabilities, plus the assets.extra/ files the jobs read. For tests of what surrounds the model
(scoring, flags, summaries) without training one."""
import json
import os

import numpy as np

from pipelines import artifacts
from pipelines.rules import taxonomy as taxonomy_lib
from pipelines.storage import exported_model


def probabilities(classes, predicted, confidence):
    """`confidence` on `predicted`, the rest spread evenly over the other classes."""
    values = np.full(len(classes), (1.0 - confidence) / (len(classes) - 1), np.float32)
    values[classes.index(predicted)] = confidence
    return values


def model(predicted='Watches', confidence=0.95, flag_max_given_probability=0.01, version='1'):
    """The metadata of such an export, without files (for the pure scoring rules)."""
    shipped = taxonomy_lib.load()
    return exported_model.ExportedModel(path=f'/fake/export/{version}', export_id=version, classes=shipped.classes,
                                        taxonomy=shipped.to_dict(),
                                        flag_max_given_probability=flag_max_given_probability)


def write(root, predicted='Watches', confidence=0.95, flag_max_given_probability=0.01, version='1', flag_fit=None):
    """Writes ROOT/<version>/ and returns its ExportedModel (load_exported, as the jobs read it)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from trainer import features  # pylint: disable=import-outside-toplevel
    shipped = taxonomy_lib.load()
    path = os.path.join(root, version)
    module = tf.Module()
    module.probabilities = tf.constant(probabilities(shipped.classes, predicted, confidence))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name='image_bytes')])
    def serve(image_bytes):
        decoded = features.decode_images(image_bytes, 3)
        return {'probabilities': tf.tile(module.probabilities[None, :], [tf.shape(decoded)[0], 1])}

    tf.saved_model.save(module, path, signatures={artifacts.SERVING_SIGNATURE: serve})
    extra = os.path.join(path, artifacts.ASSETS_EXTRA)
    os.makedirs(extra, exist_ok=True)
    texts = {artifacts.LABELS: ''.join(f'{name}\n' for name in shipped.classes),
             artifacts.TAXONOMY: shipped.to_json(),
             artifacts.CALIBRATION: json.dumps({'temperature': 1.0, 'flag_fit': flag_fit,
                                                'flag_max_given_probability': flag_max_given_probability})}
    for name, text in texts.items():
        with open(os.path.join(extra, name), 'w', encoding='utf-8') as f:
            f.write(text)
    return exported_model.load_exported(path)

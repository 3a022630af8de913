"""Scoring images with an exported model through Beam's RunInference.

The exported model (trainer/export.py) is a Keras 3 SavedModel that takes raw JPEG bytes. Beam's
TensorFlow model handler loads models with `tf.keras.models.load_model`, which cannot open it, so the
handler below keeps Beam's RunInference (batching, model sharing, metrics) and overrides only the loading
and the call of the serving signature.
"""
import apache_beam as beam
import tensorflow as tf
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

from pipelines import artifacts
from pipelines.rules import changes, predictions
from pipelines.transforms.count import Progress


def _infer(model, batch, inference_args, model_id=None):
    """Beam's TF inference_fn contract: a batch of JPEG bytes -> one PredictionResult of probabilities each."""
    outputs = model.signatures[artifacts.SERVING_SIGNATURE](image_bytes=tf.constant(list(batch), dtype=tf.string),
                                                            **inference_args)
    probabilities = outputs['probabilities'].numpy()
    return [PredictionResult(example, p, model_id) for example, p in zip(batch, probabilities)]


class JpegBytesModelHandler(TFModelHandlerTensor):
    """Beam's TF model handler, loading our export with tf.saved_model.load instead of Keras' load_model."""

    def load_model(self):
        return tf.saved_model.load(self._model_uri)


def model_handler(export_path, batch_size=predictions.INFERENCE_BATCH_SIZE):
    """RunInference's handler for our export: (key, JPEG bytes) in, (key, PredictionResult) out."""
    return KeyedModelHandler(JpegBytesModelHandler(
        export_path, inference_fn=_infer, min_batch_size=1, max_batch_size=batch_size))


class _ToRecord(beam.DoFn):
    """(row, PredictionResult) -> a prediction record (plus `image_path`, for the sample grids, and the image
    file's metadata, for the nightly's published catalog)."""

    def __init__(self, model, thresholds):
        self._model, self._thresholds = model, thresholds
        self._scored = None

    def setup(self):
        self._scored = Progress('images_scored')

    def process(self, keyed_result):
        row, result = keyed_result
        self._scored.inc()
        yield dict(predictions.prediction_record(row, result.inference, self._model, self._thresholds),
                   image_path=row['image_path'], **changes.image_file(row))


class ScoreImages(beam.PTransform):
    """(row with `given_class` and `content_hash`, JPEG bytes) pairs, images already checked (CheckImages: one
    undecodable JPEG would otherwise fail the whole batch it lands in) -> prediction records (PREDICTION_COLUMNS,
    plus `image_path` and the image file's metadata). Inference is Beam's RunInference, batched up to
    `batch_size` images.
    """

    def __init__(self, model, batch_size=predictions.INFERENCE_BATCH_SIZE, thresholds=predictions.Thresholds()):
        super().__init__()
        self._model, self._batch_size, self._thresholds = model, batch_size, thresholds

    def expand(self, checked):
        return (checked
                | 'run inference' >> RunInference(model_handler(self._model.path, self._batch_size))
                | 'to prediction record' >> beam.ParDo(_ToRecord(self._model, self._thresholds)))

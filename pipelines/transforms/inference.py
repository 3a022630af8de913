"""Scoring images with an exported model through Beam's RunInference.

The exported model (trainer/export.py) is a Keras 3 SavedModel that takes raw JPEG bytes. Beam's
TensorFlow model handler loads models with `tf.keras.models.load_model`, which cannot open it, so the
handler below keeps Beam's RunInference (batching, model sharing, metrics) and overrides only the loading
and the call of the serving signature.

The model's decode is the image check of scoring: a JPEG that does not decode fails its batch, which is then
scored image by image, so that only the bad image is set aside (its inference is an `Undecodable`), with
the reason PIL gives, or TensorFlow's where PIL decodes it.
"""
import typing

import apache_beam as beam
import tensorflow as tf
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

from pipelines import artifacts
from pipelines.rules import changes, images, predictions
from pipelines.transforms.count import Progress


class Undecodable(typing.NamedTuple):
    """The inference of an image the model could not decode: why."""
    reason: str


def _probabilities(serve, jpegs, inference_args):
    outputs = serve(image_bytes=tf.constant(jpegs, dtype=tf.string), **inference_args)
    return outputs['probabilities'].numpy()


def _one_by_one(serve, jpegs, inference_args):
    """Each image's probabilities, or an Undecodable for one that does not decode. PIL checks each image first,
    so that one it rejects is not decoded by TensorFlow again (whose libjpeg prints to stderr when it fails)."""
    results = []
    for jpeg in jpegs:
        problem = images.check_jpeg(jpeg)
        if problem:
            results.append(Undecodable(problem))
            continue
        try:
            results.append(_probabilities(serve, [jpeg], inference_args)[0])
        except tf.errors.InvalidArgumentError as e:
            results.append(Undecodable(f'does not decode: {e.message.splitlines()[0].split("}} ")[-1]}'))
    return results


def _infer(model, batch, inference_args, model_id=None):
    """Beam's TF inference_fn contract: a batch of JPEG bytes -> one PredictionResult each, of probabilities
    or an Undecodable."""
    serve, jpegs = model.signatures[artifacts.SERVING_SIGNATURE], list(batch)
    try:
        results = _probabilities(serve, jpegs, inference_args)
    except tf.errors.InvalidArgumentError:
        results = _one_by_one(serve, jpegs, inference_args)
    return [PredictionResult(example, result, model_id) for example, result in zip(batch, results)]


class JpegBytesModelHandler(TFModelHandlerTensor):
    """Beam's TF model handler, loading our export with tf.saved_model.load instead of Keras' load_model."""

    def load_model(self):
        return tf.saved_model.load(self._model_uri)


def model_handler(export_path, batch_size=predictions.INFERENCE_BATCH_SIZE):
    """RunInference's handler for our export: (key, JPEG bytes) in, (key, PredictionResult) out, in batches of
    `batch_size` (a bundle's last one smaller). Fixed rather than Beam's adaptive sizes, which aim at 5%
    per-batch overhead and so settle below the largest batch, where the model costs more per image."""
    return KeyedModelHandler(JpegBytesModelHandler(
        export_path, inference_fn=_infer, min_batch_size=batch_size, max_batch_size=batch_size))


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
        if isinstance(result.inference, Undecodable):
            yield beam.pvalue.TaggedOutput('quarantine', images.undecodable(row, result.inference.reason))
            return
        self._scored.inc()
        yield dict(predictions.prediction_record(row, result.inference, self._model, self._thresholds),
                   image_path=row['image_path'], **changes.image_file(row))


class ScoreImages(beam.PTransform):
    """(row with `given_class` and `content_hash`, JPEG bytes) pairs -> `records`: prediction records
    (PREDICTION_COLUMNS, plus `image_path` and the image file's metadata), and `quarantine`: a record for each
    image the model could not decode. Inference is Beam's RunInference, batched up to `batch_size` images.
    """

    def __init__(self, model, batch_size=predictions.INFERENCE_BATCH_SIZE, thresholds=predictions.Thresholds()):
        super().__init__()
        self._model, self._batch_size, self._thresholds = model, batch_size, thresholds

    def expand(self, checked):
        return (checked
                | 'run inference' >> RunInference(model_handler(self._model.path, self._batch_size))
                | 'to prediction record' >> beam.ParDo(_ToRecord(self._model, self._thresholds)).with_outputs(
                    'quarantine', main='records'))

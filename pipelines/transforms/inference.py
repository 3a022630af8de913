"""Scoring images with an exported model through Beam's RunInference.

The exported model (trainer/export.py) is a Keras 3 SavedModel that takes raw JPEG bytes, and for a full-labels
model the raw display name beside them. Beam's
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
from pipelines.rules import images, predictions
from pipelines.transforms.count import Progress


class Undecodable(typing.NamedTuple):
    """The inference of an image the model could not decode: why."""
    reason: str


def _outputs(serve, examples, inference_args):
    """Per example, what the export says: the Class probabilities of an image-only export (examples are JPEG
    bytes), or a dict of every probabilities output of a full-labels one (examples are (JPEG bytes, name bytes)):
    the Class's, each head's leaves' and, where it has them, each attribute head's."""
    if not isinstance(examples[0], tuple):
        return list(serve(image_bytes=tf.constant(examples, dtype=tf.string), **inference_args)['probabilities']
                    .numpy())
    jpegs, names = zip(*examples)
    outputs = serve(image_bytes=tf.constant(jpegs, dtype=tf.string), name=tf.constant(names, dtype=tf.string),
                    **inference_args)
    arrays = {key: value.numpy() for key, value in outputs.items() if key.endswith('probabilities')}
    return [{key: values[i] for key, values in arrays.items()} for i in range(len(examples))]


def _one_by_one(serve, examples, inference_args):
    """Each example's outputs, or an Undecodable for one whose image does not decode. PIL checks each image first,
    so that one it rejects is not decoded by TensorFlow again (whose libjpeg prints to stderr when it fails)."""
    results = []
    for example in examples:
        problem = images.check_jpeg(example[0] if isinstance(example, tuple) else example)
        if problem:
            results.append(Undecodable(problem))
            continue
        try:
            results.append(_outputs(serve, [example], inference_args)[0])
        except tf.errors.InvalidArgumentError as e:
            results.append(Undecodable(f'does not decode: {e.message.splitlines()[0].split("}} ")[-1]}'))
    return results


def _infer(model, batch, inference_args, model_id=None):
    """Beam's TF inference_fn contract: a batch of examples -> one PredictionResult each, of the export's
    outputs or an Undecodable."""
    serve, examples = model.signatures[artifacts.SERVING_SIGNATURE], list(batch)
    try:
        results = _outputs(serve, examples, inference_args)
    except tf.errors.InvalidArgumentError:
        results = _one_by_one(serve, examples, inference_args)
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
    """(row, PredictionResult) -> a Prediction."""

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
        yield predictions.prediction_record(row, result.inference, self._model, self._thresholds)


class ScoreImages(beam.PTransform):
    """(CatalogRow with `given_class` and `content_hash`, JPEG bytes) pairs -> `records`: Predictions, and
    `quarantine`: a record for each
    image the model could not decode. Inference is Beam's RunInference, batched up to `batch_size` images; a
    full-labels model reads each row's display name with its image.
    """

    def __init__(self, model, batch_size=predictions.INFERENCE_BATCH_SIZE, thresholds=predictions.Thresholds()):
        super().__init__()
        self._model, self._batch_size, self._thresholds = model, batch_size, thresholds

    def expand(self, checked):
        if self._model.full_labels:
            checked = checked | 'with the name' >> beam.Map(
                lambda pair: (pair[0], (pair[1], pair[0].productDisplayName.encode('utf-8'))))
        return (checked
                | 'run inference' >> RunInference(model_handler(self._model.path, self._batch_size))
                | 'to prediction record' >> beam.ParDo(_ToRecord(self._model, self._thresholds)).with_outputs(
                    'quarantine', main='records'))

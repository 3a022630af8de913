"""Scoring stages shared by the score and nightly jobs: the model, given classes, RunInference, outputs.

The exported model (trainer/export.py) is a Keras 3 SavedModel that takes raw JPEG bytes. Beam's
TensorFlow model handler loads models with `tf.keras.models.load_model`, which cannot open it, so the
handler below keeps Beam's RunInference (batching, model sharing, metrics) and overrides only the loading
and the call of the serving signature.
"""
import csv
import dataclasses
import io
import json
import os

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

from pipelines import catalog, images
from pipelines.errors import UserError
from pipelines.manifest import CountersFn
from pipelines.read import CountReasons
from pipelines.relabel import Relabeler
from pipelines.taxonomy import UNKNOWN, Taxonomy

SIGNATURE = 'serving_default'
TOP_K = 3
DISAGREE_MIN_CONFIDENCE = 0.9
INFERENCE_BATCH_SIZE = 64
SAMPLE_SIZE = 16
TOP_DISAGREEMENTS = 20

PREDICTION_COLUMNS = (
    'id', 'productDisplayName', 'masterCategory', 'subCategory', 'articleType', 'given_class',
    'predicted_class', 'confidence',
    *(f'top{k}_{field}' for k in range(1, TOP_K + 1) for field in ('class', 'probability')),
    'disagrees', 'model_version', 'taxonomy_version', 'content_hash')
_FLOAT_COLUMNS = {'confidence', *(f'top{k}_probability' for k in range(1, TOP_K + 1))}
_BOOL_COLUMNS = {'disagrees'}
# Cells a spreadsheet would run as a formula (OWASP's list for CSV injection).
_FORMULA_PREFIXES = ('=', '+', '-', '@', '\t', '\r')


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """An export folder and what its assets.extra/ says: the vocabulary and taxonomy it was trained under."""
    path: str
    version: str
    classes: tuple
    taxonomy: dict

    @property
    def taxonomy_version(self):
        return self.taxonomy['version']

    @property
    def model_dir(self):
        """The training run's folder (export/<version>/ lives in it): where blessing.json is."""
        return os.path.dirname(os.path.dirname(self.path.rstrip('/')))


def newest_version(path):
    """`path` itself when it is an export; given the folder of versions (MODEL_DIR/export), its highest
    numbered version, as TF Serving picks from a base path."""
    path = path.rstrip('/')
    if FileSystems.exists(FileSystems.join(path, 'saved_model.pb')):
        return path
    matches = FileSystems.match([FileSystems.join(path, '*', 'saved_model.pb')])[0].metadata_list
    versions = [m.path.rstrip('/').split('/')[-2] for m in matches]
    numbered = sorted((v for v in versions if v.isdigit()), key=int)
    return FileSystems.join(path, numbered[-1]) if numbered else path


def load_exported(path):
    """Reads an export's metadata (not its weights); UserError when `path` is not one of our exports.
    `path` is an export, or the folder of numbered exports (the highest is used)."""
    path = newest_version(path)
    extra = FileSystems.join(path, 'assets.extra')
    texts = {}
    for name in ('labels.txt', 'taxonomy.json'):
        try:
            with FileSystems.open(FileSystems.join(extra, name)) as f:
                texts[name] = f.read().decode('utf-8')
        except (IOError, OSError) as e:
            raise UserError(f'{path!r} is not an exported model: cannot read assets.extra/{name} ({e})') from e
    taxonomy = Taxonomy.from_dict(json.loads(texts['taxonomy.json']))
    classes = tuple(texts['labels.txt'].splitlines())
    if classes != taxonomy.classes:
        raise UserError(f'{path}: labels.txt does not match the classes of its taxonomy.json')
    return ExportedModel(path=path, version=os.path.basename(path), classes=classes,
                         taxonomy=taxonomy.to_dict())


def read_blessing(model):
    """The training run's blessing.json, or None when it has none."""
    path = FileSystems.join(model.model_dir, 'blessing.json')
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode('utf-8'))


def _infer(model, batch, inference_args, model_id=None):
    """Beam's TF inference_fn contract: a batch of JPEG bytes -> one PredictionResult of probabilities each."""
    outputs = model.signatures[SIGNATURE](image_bytes=tf.constant(list(batch), dtype=tf.string),
                                          **inference_args)
    probabilities = outputs['probabilities'].numpy()
    return [PredictionResult(example, p, model_id) for example, p in zip(batch, probabilities)]


class JpegBytesModelHandler(TFModelHandlerTensor):
    """Beam's TF model handler, loading our export with tf.saved_model.load instead of Keras' load_model."""

    def load_model(self):
        return tf.saved_model.load(self._model_uri)


def model_handler(export_path, batch_size=INFERENCE_BATCH_SIZE):
    """RunInference's handler for our export: (key, JPEG bytes) in, (key, PredictionResult) out."""
    return KeyedModelHandler(JpegBytesModelHandler(
        export_path, inference_fn=_infer, min_batch_size=1, max_batch_size=batch_size))


class _GivenClass(beam.DoFn):
    """Adds `given_class`: the row's labels under the model's taxonomy, Unknown where it cannot place them."""

    def __init__(self, taxonomy_dict):
        self._taxonomy_dict = taxonomy_dict

    def setup(self):
        self._taxonomy = Taxonomy.from_dict(self._taxonomy_dict)
        self._relabeler = None

    def process(self, row):
        label, _, _ = self._taxonomy.classify(row['masterCategory'], row['subCategory'], row['articleType'])
        if label == self._taxonomy.relabel_source:
            if self._relabeler is None:
                self._relabeler = Relabeler(self._taxonomy)
            label = self._relabeler.match(row['productDisplayName'])[0]
        yield dict(row, given_class=label or UNKNOWN)


class GivenClass(beam.PTransform):
    """Rows -> the same rows with `given_class`. Label columns never quarantine a row when scoring."""

    def __init__(self, taxonomy_dict):
        super().__init__()
        self._taxonomy_dict = taxonomy_dict

    def expand(self, rows):
        return rows | 'labels under the model taxonomy' >> beam.ParDo(_GivenClass(self._taxonomy_dict))


def _with_image(row, keep_bytes):
    data, quarantined = images.read_checked(row)
    if quarantined:
        yield beam.pvalue.TaggedOutput('quarantine', quarantined)
        return
    row = dict(row, content_hash=images.content_hash(data))
    yield (row, data) if keep_bytes else row


class HashImages(beam.PTransform):
    """Rows -> rows with the `content_hash` of an image that decodes; `quarantine` for one that does not."""

    def expand(self, rows):
        return rows | 'read, check and hash images' >> beam.FlatMap(_with_image, False).with_outputs(
            'quarantine', main='rows')


def prediction_record(row, probabilities, model, disagree_min_confidence):
    """One output row: the given labels next to the model's top classes."""
    top = np.argsort(-probabilities, kind='stable')[:TOP_K]
    predicted, confidence = model.classes[top[0]], float(probabilities[top[0]])
    record = {name: row[name] for name in ('id', 'productDisplayName', *catalog.LABEL_COLUMNS, 'given_class',
                                           'content_hash')}
    record.update(predicted_class=predicted, confidence=confidence,
                  disagrees=(row['given_class'] not in (UNKNOWN, predicted)
                             and confidence >= disagree_min_confidence),
                  model_version=model.version, taxonomy_version=model.taxonomy_version)
    for k, index in enumerate(top, start=1):
        record[f'top{k}_class'], record[f'top{k}_probability'] = model.classes[index], float(probabilities[index])
    return record


def _to_record(keyed_result, model, disagree_min_confidence):
    row, result = keyed_result
    return dict(prediction_record(row, result.inference, model, disagree_min_confidence),
                image_path=row['image_path'])


class ScoreImages(beam.PTransform):
    """Rows (with `given_class`) -> `records` (PREDICTION_COLUMNS, plus `image_path`) and `quarantine`.

    Each image is read and checked before inference: one undecodable JPEG would otherwise fail the whole
    batch it lands in. Inference is Beam's RunInference, batched up to `batch_size` images.
    """

    def __init__(self, model, batch_size=INFERENCE_BATCH_SIZE, disagree_min_confidence=DISAGREE_MIN_CONFIDENCE):
        super().__init__()
        self._model, self._batch_size = model, batch_size
        self._disagree_min_confidence = disagree_min_confidence

    def expand(self, rows):
        checked = rows | 'read and check images' >> beam.FlatMap(_with_image, True).with_outputs(
            'quarantine', main='rows')
        records = (
            checked.rows
            | 'run inference' >> RunInference(model_handler(self._model.path, self._batch_size))
            | 'to prediction record' >> beam.Map(_to_record, self._model, self._disagree_min_confidence))
        return {'records': records, 'quarantine': checked.quarantine}


def csv_safe(value):
    """Text a spreadsheet shows as text: a leading formula character is escaped with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_line(record, columns):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator='').writerow([csv_safe(record.get(name)) for name in columns])
    return buffer.getvalue()


def parquet_schema(columns):
    return pa.schema([(name, pa.float64() if name in _FLOAT_COLUMNS else
                       pa.bool_() if name in _BOOL_COLUMNS else pa.string()) for name in columns])


class WriteRecords(beam.PTransform):
    """Records -> PREFIX-SSSSS-of-NNNNN.csv (header row, formula-safe cells) and the same as .parquet."""

    def __init__(self, prefix, columns):
        super().__init__()
        self._prefix, self._columns = prefix, tuple(columns)

    def expand(self, records):
        columns = self._columns
        _ = (records
             | 'to csv line' >> beam.Map(csv_line, columns)
             | 'write csv' >> beam.io.WriteToText(self._prefix, file_name_suffix='.csv',
                                                  header=','.join(columns)))
        _ = (records
             | 'parquet columns only' >> beam.Map(lambda r: {name: r.get(name) for name in columns})
             | 'write parquet' >> beam.io.WriteToParquet(self._prefix, parquet_schema(columns),
                                                         file_name_suffix='.parquet'))
        return records


def _brief(record):
    return {name: record[name] for name in ('id', 'productDisplayName', 'given_class', 'predicted_class',
                                            'confidence', 'image_path')}


def _prediction_keys(record):
    keys = [('scored', ''), ('predicted_class', record['predicted_class'])]
    if record['given_class'] == UNKNOWN:
        keys.append(('unknown_labelled', record['predicted_class']))
    if record['disagrees']:
        keys.append(('disagreements', (record['given_class'], record['predicted_class'])))
    return keys


def build_summary(counts, by_reason, unknown_sample, top_disagreements, min_confidence):
    """What a scoring run found, in numbers and samples (with image paths, for the picture grids)."""
    pairs = counts.get('disagreements', {})
    unknown = counts.get('unknown_labelled', {})
    return {
        'scored': counts.get('scored', {}).get('', 0),
        'quarantined': sum(by_reason.values()),
        'quarantined_by_reason': dict(sorted(by_reason.items())),
        'predicted_class_counts': dict(sorted(counts.get('predicted_class', {}).items())),
        'unknown_labelled': {'count': sum(unknown.values()), 'by_class': dict(sorted(unknown.items())),
                             'sample': unknown_sample},
        'disagreements': {
            'count': sum(pairs.values()), 'min_confidence': min_confidence,
            'by_pair': [{'given': given, 'predicted': predicted, 'count': n}
                        for (given, predicted), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))],
            'top': top_disagreements},
    }


class SummarizeScores(beam.PTransform):
    """Prediction records -> a singleton summary dict (see `build_summary`); `quarantine` feeds its counts."""

    def __init__(self, quarantine, min_confidence):
        super().__init__()
        self._quarantine, self._min_confidence = quarantine, min_confidence

    def expand(self, records):
        side = beam.pvalue
        by_reason = self._quarantine | 'count quarantine per reason' >> CountReasons()
        unknown_sample = (records
                          | 'given Unknown only' >> beam.Filter(lambda r: r['given_class'] == UNKNOWN)
                          | 'brief unknown' >> beam.Map(_brief)
                          | 'lowest unknown ids' >> beam.combiners.Top.Smallest(
                              SAMPLE_SIZE, key=lambda r: int(r['id'])))
        top_disagreements = (records
                             | 'disagreements only' >> beam.Filter(lambda r: r['disagrees'])
                             | 'brief disagreement' >> beam.Map(_brief)
                             | 'most confident disagreements' >> beam.combiners.Top.Largest(
                                 TOP_DISAGREEMENTS, key=lambda r: (r['confidence'], -int(r['id']))))
        return (records
                | 'count predictions' >> beam.CombineGlobally(CountersFn(_prediction_keys))
                | 'build summary' >> beam.Map(build_summary, side.AsDict(by_reason),
                                              side.AsSingleton(unknown_sample),
                                              side.AsSingleton(top_disagreements), self._min_confidence))

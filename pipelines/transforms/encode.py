"""The last stage before writing training data: each row's image read once, checked, hashed, split by its
hash and encoded as a tf.train.Example."""
import apache_beam as beam

from pipelines.rules import catalog, examples
from pipelines.rules.split import SPLITS, assign_split
from pipelines.rules.taxonomy import UNKNOWN
from pipelines.transforms.images import CheckImages

ENCODE_BATCH_SIZE = 256


class _Split(beam.DoFn):
    """(row, image bytes) -> (split, (row, bytes, class_index)); an Unknown row goes to `unknown`; every
    row's summary to `summary`."""

    def process(self, row_and_bytes, classes):
        row, data = row_and_bytes
        if row.class_name == UNKNOWN:
            yield beam.pvalue.TaggedOutput('summary', examples.summary(row, None))
            yield beam.pvalue.TaggedOutput('unknown', row)
            return
        split = assign_split(row.content_hash)
        yield beam.pvalue.TaggedOutput('summary', examples.summary(row, split))
        yield split, (row, data, classes.index(row.class_name))


def _encode_batch(batch):
    for (split, _), serialized in zip(batch, examples.encode_examples([item for _, item in batch]), strict=True):
        yield beam.pvalue.TaggedOutput(split, serialized)


@beam.typehints.with_input_types(catalog.CatalogRow)
class EncodeExamples(beam.PTransform):
    """Classified rows -> a dict of serialized tf.train.Examples under `train` / `val` / `test`, Unknown
    rows (`unknown`, not encoded), a `summary` dict per kept row, and `quarantine` for images that do not
    decode. `classes` is a singleton PCollection of the class vocabulary (index = class_index). Examples
    are encoded ENCODE_BATCH_SIZE at a time."""

    def __init__(self, classes):
        super().__init__()
        self._classes = classes

    def expand(self, rows):
        checked = rows | 'check images' >> CheckImages()
        split = checked.rows | 'split by content hash' >> beam.ParDo(
            _Split(), beam.pvalue.AsSingleton(self._classes)).with_outputs('unknown', 'summary', main='kept')
        encoded = (split.kept
                   | 'batch for encoding' >> beam.BatchElements(max_batch_size=ENCODE_BATCH_SIZE)
                   | 'encode examples' >> beam.FlatMap(_encode_batch).with_outputs(*SPLITS))
        return {**{name: encoded[name] for name in SPLITS}, 'unknown': split.unknown,
                'summary': split.summary, 'quarantine': checked.quarantine}

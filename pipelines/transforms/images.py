"""Each row's image, read once, checked and hashed: one stage for prepare, score and nightly."""
import apache_beam as beam

from pipelines.rules import catalog, images


def _checked(row, keep_bytes):
    data, quarantined = images.read_checked(row)
    if quarantined:
        yield beam.pvalue.TaggedOutput('quarantine', quarantined)
        return
    row = dict(row, content_hash=images.content_hash(data))
    yield (row, data) if keep_bytes else row


@beam.typehints.with_input_types(catalog.Row)
class CheckImages(beam.PTransform):
    """Rows -> `rows` with the `content_hash` of an image that decodes completely as a JPEG (as (row, JPEG
    bytes) pairs when `keep_bytes`), and `quarantine` records for images that do not.

    Reading the bytes is the last step before they are used: placed after every shuffle, it keeps memory
    flat as the catalog grows, since only small row dicts travel through the joins before it.
    """

    def __init__(self, keep_bytes=False):
        super().__init__()
        self._keep_bytes = keep_bytes

    def expand(self, rows):
        return rows | 'read, check and hash images' >> beam.FlatMap(_checked, self._keep_bytes).with_outputs(
            'quarantine', main='rows')

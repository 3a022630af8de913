"""Each row's image, read once, checked and hashed: one stage for prepare and score (the nightly's diff reads
only the images it needs, with the same rule and counter)."""
import apache_beam as beam

from pipelines.rules import catalog, images
from pipelines.transforms.count import NAMESPACE

IMAGES_READ = 'images_read'  # the counter of image files read, whichever stage reads them


def images_read_counter():
    return beam.metrics.Metrics.counter(NAMESPACE, IMAGES_READ)


class _Check(beam.DoFn):
    def __init__(self, decode):
        self._decode = decode
        self._read = None

    def setup(self):
        self._read = images_read_counter()

    def process(self, row):
        self._read.inc()
        hashed, quarantined = images.read_hashed(row, self._decode)
        if quarantined:
            yield beam.pvalue.TaggedOutput('quarantine', quarantined)
        else:
            yield hashed


@beam.typehints.with_input_types(catalog.CatalogRow)
class CheckImages(beam.PTransform):
    """Rows -> `rows`: (row with the `content_hash`, JPEG bytes) of each image that decodes completely as a
    JPEG, and `quarantine` records for images that do not. With `decode` false (scoring) only the JPEG signature
    is checked: the model decodes every image anyway, in batches, and sets aside those that do not decode
    (ScoreImages), so a second decode here would only cost time.

    Reading the bytes is the last step before they are used: placed after every shuffle, it keeps memory
    flat as the catalog grows, since only small rows travel through the joins before it.
    """

    def __init__(self, decode=True):
        super().__init__()
        self._decode = decode

    def expand(self, rows):
        return rows | 'read, check and hash images' >> beam.ParDo(_Check(self._decode)).with_outputs(
            'quarantine', main='rows')

"""The one catalog reader every job goes through: styles.csv lines joined to their images."""
import posixpath
import typing

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.rules import catalog
from pipelines.transforms.count import NAMESPACE, Progress


def _numbered_lines(path):
    """(line number, raw bytes without the line end) of each line after the header, counted from 1 with the
    header: one worker reads the file in order, so that every quarantined or repaired row names its line."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        for number, raw in enumerate(f, start=1):
            if number > 1:
                yield number, raw.rstrip(b'\n')


@beam.typehints.with_input_types(typing.Tuple[int, bytes])
@beam.typehints.with_output_types(catalog.CatalogRow)
class _ParseLines(beam.DoFn):
    def __init__(self, header):
        self._header = header
        self._read = self._repaired = None

    def setup(self):
        self._read = Progress('rows_read', every=20000)
        self._repaired = beam.metrics.Metrics.counter(NAMESPACE, 'rows_repaired')

    def process(self, numbered):
        number, raw = numbered
        parsed = catalog.parse_line(raw, self._header, number)
        if parsed is None:
            return
        self._read.inc()
        kind, value = parsed
        if kind == 'quarantine':
            yield beam.pvalue.TaggedOutput('quarantine', value)
            return
        if value.repaired:
            self._repaired.inc()
            yield beam.pvalue.TaggedOutput('repaired', {'line_number': number, 'id': value.id})
        yield value


def _image_id(metadata):
    return posixpath.basename(metadata.path)[:-len('.jpg')], metadata


def _resolve(joined):
    """One id's rows and image files -> its row with an image, or quarantine records, or an orphan image."""
    row_id, group = joined
    rows, images = list(group['rows']), list(group['images'])
    if not rows:
        yield beam.pvalue.TaggedOutput('orphan_images', row_id)
    elif len(rows) > 1:
        for row in rows:
            yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_row(
                row, catalog.DUPLICATE_ID, f'id appears on {len(rows)} lines'))
    elif not images:
        yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_row(
            rows[0], catalog.MISSING_IMAGE, f'no images/{row_id}.jpg'))
    elif images[0].size_in_bytes == 0:
        yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_row(
            rows[0], catalog.UNDECODABLE_IMAGE, f'images/{row_id}.jpg is a zero-byte file'))
    else:
        image = images[0]
        yield rows[0]._replace(image_path=image.path, image_size=image.size_in_bytes,
                               image_mtime=image.last_updated_in_seconds)


class ReadCatalog(beam.PTransform):
    """Catalog folder -> dict of PCollections.

    `rows`: a CatalogRow per valid, unique id that has an image file (the styles.csv columns, the raw `line`, its
    `line_number`, whether it was `repaired`, `image_path`, `image_size`, `image_mtime`); `quarantine`: a record
    per rejected non-blank
    line; `rows_read`: the count of non-blank lines (a singleton); `repaired`: {line_number, id} of each line
    whose display name held unquoted commas (kept, and also counted in `rows_read`); `orphan_images`: ids of
    images that no row names. Image bytes are not read here: the match gives each image's `image_size` and
    `image_mtime` (seconds), which rows carry.
    """

    def __init__(self, catalog_dir, header):
        super().__init__()
        self._catalog_dir = catalog_dir
        self._header = header

    def expand(self, pbegin):
        parsed = (
            pbegin
            | 'styles.csv' >> beam.Create([catalog.styles_path(self._catalog_dir)])
            | 'read numbered lines' >> beam.FlatMap(_numbered_lines)
            | 'spread lines over workers' >> beam.Reshuffle()
            | 'parse lines' >> beam.ParDo(_ParseLines(self._header)).with_outputs(
                'quarantine', 'repaired', main='rows'))
        images = (
            pbegin
            | 'list images' >> fileio.MatchFiles(
                FileSystems.join(catalog.images_dir(self._catalog_dir), '*.jpg'),
                empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | 'key images by id' >> beam.Map(_image_id))
        keyed_rows = parsed.rows | 'key rows by id' >> beam.Map(lambda row: (row.id, row))
        resolved = (
            {'rows': keyed_rows, 'images': images}
            | 'join rows to images' >> beam.CoGroupByKey()
            | 'resolve duplicates and missing images' >> beam.FlatMap(_resolve).with_outputs(
                'quarantine', 'orphan_images', main='rows'))
        rows_read = (
            (parsed.rows, parsed.quarantine)
            | 'all parsed lines' >> beam.Flatten()
            | 'count rows read' >> beam.combiners.Count.Globally())
        quarantine = ((parsed.quarantine, resolved.quarantine)
                      | 'all reader quarantine' >> beam.Flatten())
        return {'rows': resolved.rows, 'quarantine': quarantine, 'rows_read': rows_read,
                'repaired': parsed.repaired, 'orphan_images': resolved.orphan_images}

"""The one catalog reader every job goes through: styles.csv lines joined to their images."""
import posixpath

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from pipelines.rules import catalog
from pipelines.transforms.count import Progress


@beam.typehints.with_input_types(bytes)
@beam.typehints.with_output_types(catalog.Row)
class _ParseLines(beam.DoFn):
    def __init__(self, header):
        self._header = header
        self._read = None

    def setup(self):
        self._read = Progress('rows_read', every=20000)

    def process(self, raw):
        parsed = catalog.parse_line(raw, self._header)
        if parsed is None:
            return
        self._read.inc()
        kind, value = parsed
        if kind == 'row':
            yield value
        else:
            yield beam.pvalue.TaggedOutput('quarantine', value)


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
            yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_record(
                row_id, catalog.DUPLICATE_ID, f'id appears on {len(rows)} lines', row['line']))
    elif not images:
        yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_record(
            row_id, catalog.MISSING_IMAGE, f'no images/{row_id}.jpg', rows[0]['line']))
    elif images[0].size_in_bytes == 0:
        yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_record(
            row_id, catalog.UNDECODABLE_IMAGE, f'images/{row_id}.jpg is a zero-byte file', rows[0]['line']))
    else:
        yield dict(rows[0], image_path=images[0].path)


class ReadCatalog(beam.PTransform):
    """Catalog folder -> dict of PCollections.

    `rows`: one dict per valid, unique id that has an image file (the styles.csv columns, the raw `line`,
    `image_path`); `quarantine`: a record per rejected non-blank line; `rows_read`: the count of non-blank
    lines (a singleton); `orphan_images`: ids of images that no row names. Image bytes are not read here.
    """

    def __init__(self, catalog_dir, header):
        super().__init__()
        self._catalog_dir = catalog_dir
        self._header = header

    def expand(self, pbegin):
        parsed = (
            pbegin
            | 'read styles.csv lines' >> beam.io.ReadFromText(
                catalog.styles_path(self._catalog_dir), skip_header_lines=1, coder=beam.coders.BytesCoder())
            | 'parse lines' >> beam.ParDo(_ParseLines(self._header)).with_outputs('quarantine', main='rows'))
        images = (
            pbegin
            | 'list images' >> fileio.MatchFiles(
                FileSystems.join(catalog.images_dir(self._catalog_dir), '*.jpg'),
                empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | 'key images by id' >> beam.Map(_image_id))
        keyed_rows = parsed.rows | 'key rows by id' >> beam.Map(lambda row: (row['id'], row))
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
                'orphan_images': resolved.orphan_images}

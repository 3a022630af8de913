"""Reviewers' corrections applied to catalog rows in prepare, before the label checks: the labels'
(rules/overrides.py) and the flagged attributes' (rules/attribute_reviews.py)."""
import apache_beam as beam

from pipelines.rules import attribute_reviews, catalog, images, overrides
from pipelines.rules.taxonomy import Taxonomy
from pipelines.storage import files


class _Apply(beam.DoFn):
    def __init__(self, of_attributes):
        self._of_attributes, self._taxonomy = of_attributes, None

    def process(self, joined, taxonomy_dict):
        _, group = joined
        rows, found = list(group['rows']), list(group['overrides'])
        if not found:
            yield from rows
            return
        rules = attribute_reviews if self._of_attributes else overrides
        if not rows:
            for override in found:
                yield beam.pvalue.TaggedOutput('outcomes', rules.outcome(override, rules.IGNORED, rules.UNKNOWN_ID))
            return
        if self._taxonomy is None or self._taxonomy.rules_hash != taxonomy_dict['version']:
            self._taxonomy = Taxonomy.from_dict(taxonomy_dict)
        for row in rows:  # more than one only for a duplicated id, which the reader has already quarantined
            try:
                content_hash = images.content_hash(files.read_bytes(row.image_path))
            except (IOError, OSError):
                content_hash = None  # the image check quarantines the row later; the override is stale
            if self._of_attributes:
                applied, records = attribute_reviews.apply(row, found, content_hash)
            else:
                applied, record = overrides.apply(row, found[0], content_hash, self._taxonomy)
                records = [record]
            yield applied
            for record in records:
                yield beam.pvalue.TaggedOutput('outcomes', record)


@beam.typehints.with_input_types(catalog.CatalogRow)
class ApplyOverrides(beam.PTransform):
    """Rows (from ReadCatalog) -> `rows`, with the label columns of each override whose fingerprint still
    matches, and `outcomes`, one record per override (applied, stale, or ignored with its reason). With
    `of_attributes` the file is an attribute_overrides.csv, and each matching row takes its attributes' values.

    The overrides are read from their file in the pipeline (`path`, checked by rules/overrides.parse or
    attribute_reviews.parse first; `fieldnames` its columns), not embedded in the job graph that a cluster is sent.
    Only the images of overridden rows are read here (to check the fingerprint); no row is ever dropped.
    """

    def __init__(self, path, fieldnames, taxonomy, of_attributes=False):
        super().__init__()
        self._path, self._fieldnames, self._taxonomy = path, list(fieldnames), taxonomy
        self._of_attributes = of_attributes

    def expand(self, rows):
        keyed_overrides = (rows.pipeline
                           | 'read overrides' >> beam.io.ReadFromText(self._path, skip_header_lines=1)
                           | 'not blank' >> beam.Filter(str.strip)
                           | 'parse overrides' >> beam.Map(overrides.parse_line, self._fieldnames)
                           | 'key overrides' >> beam.Map(lambda r: (r['id'], r)))
        return ({'rows': rows | 'key rows' >> beam.Map(lambda r: (r.id, r)), 'overrides': keyed_overrides}
                | 'join overrides' >> beam.CoGroupByKey()
                | 'apply overrides' >> beam.ParDo(_Apply(self._of_attributes),
                                                  beam.pvalue.AsSingleton(self._taxonomy)).with_outputs(
                    'outcomes', main='rows'))

"""Each row's Class under a taxonomy (Taxonomy.class_of: the labels, then the Free Items relabel), and
deriving a taxonomy from a catalog's counts."""
import typing

import apache_beam as beam

from pipelines.rules import catalog
from pipelines.rules.taxonomy import Taxonomy, derive


class _AssignClass(beam.DoFn):
    """Keeps one Taxonomy (and so one fitted relabeler) per worker, rebuilt only when the side input's
    version changes."""

    def __init__(self, as_given):
        self._as_given = as_given
        self._taxonomy = None

    def process(self, row, taxonomy_dict):
        if self._taxonomy is None or self._taxonomy.rules_hash != taxonomy_dict['version']:
            self._taxonomy = Taxonomy.from_dict(taxonomy_dict)
        placement = self._taxonomy.class_of(row.labels, row.productDisplayName)
        if self._as_given:
            yield row._replace(given_class=placement.class_name)
        elif placement.label is None:
            yield beam.pvalue.TaggedOutput('quarantine', catalog.quarantine_row(row, placement.reason,
                                                                                  placement.detail))
        else:
            yield row._replace(label=placement.label, class_name=placement.class_name, relabel=placement.relabel)


@beam.typehints.with_input_types(catalog.CatalogRow)
@beam.typehints.with_output_types(catalog.CatalogRow)
class AssignClass(beam.PTransform):
    """Rows -> `rows` with their Class; `taxonomy` is a singleton PCollection of the taxonomy's dict.

    For training data (prepare, validate) each row gets `label` (the taxonomy's), `class_name` (after the
    relabel: a class or Unknown) and `relabel` (best match and similarity, for relabelled rows), and rows
    whose labels the taxonomy drops or does not cover go to `quarantine`. With `as_given` (score, nightly)
    each row gets `given_class` instead, Unknown where the taxonomy cannot place it: label columns never
    quarantine a row that is only scored.
    """

    def __init__(self, taxonomy, as_given=False):
        super().__init__()
        self._taxonomy, self._as_given = taxonomy, as_given

    def expand(self, rows):
        return rows | 'apply taxonomy and relabel' >> beam.ParDo(
            _AssignClass(self._as_given), beam.pvalue.AsSingleton(self._taxonomy)).with_outputs(
                'quarantine', main='rows')


@beam.typehints.with_input_types(catalog.CatalogRow)
@beam.typehints.with_output_types(typing.Dict[str, typing.Any])
class DeriveTaxonomy(beam.PTransform):
    """Rows -> a singleton PCollection holding the taxonomy dict derived from their label counts."""

    def expand(self, rows):
        return (rows
                | 'label combination' >> beam.Map(lambda r: r.labels)
                | 'count label combinations' >> beam.combiners.Count.PerElement()
                | 'gather counts' >> beam.combiners.ToDict()
                | 'derive taxonomy' >> beam.Map(lambda counts: derive(counts).to_dict()))

"""Beam stages that give each row its Class: the taxonomy, then the Free Items relabel."""
import apache_beam as beam

from pipelines import catalog
from pipelines.relabel import Relabeler
from pipelines.taxonomy import Taxonomy, derive


class _CachedTaxonomy:
    """Rebuilds the taxonomy (and its relabeler) from the side input once per worker, not per element."""

    def __init__(self):
        self._version = None
        self.taxonomy = None
        self._relabeler = None

    def get(self, taxonomy_dict):
        if taxonomy_dict['version'] != self._version:
            self.taxonomy = Taxonomy.from_dict(taxonomy_dict)
            self._version = taxonomy_dict['version']
            self._relabeler = None
        return self.taxonomy

    def relabeler(self, taxonomy_dict):
        taxonomy = self.get(taxonomy_dict)
        if self._relabeler is None:
            self._relabeler = Relabeler(taxonomy)
        return self._relabeler


class _ApplyTaxonomy(beam.DoFn):
    def setup(self):
        self._cache = _CachedTaxonomy()

    def process(self, row, taxonomy_dict):
        taxonomy = self._cache.get(taxonomy_dict)
        label, reason, detail = taxonomy.classify(
            row['masterCategory'], row['subCategory'], row['articleType'])
        if label is None:
            yield beam.pvalue.TaggedOutput(
                'quarantine', catalog.quarantine_record(row['id'], reason, detail, row['line']))
            return
        relabel = None
        class_name = label
        if label == taxonomy.relabel_source:
            class_name, best, similarity = self._cache.relabeler(taxonomy_dict).match(
                row['productDisplayName'])
            relabel = {'best_match': best, 'similarity': similarity}
        yield dict(row, label=label, class_name=class_name, relabel=relabel)


class AssignClass(beam.PTransform):
    """Rows -> rows with `label` (the taxonomy's), `class_name` (after the relabel: a class or Unknown)
    and `relabel` (best match and similarity, for relabelled rows), plus a `quarantine` output for rows
    whose labels the taxonomy drops or does not cover. `taxonomy` is a singleton PCollection of its dict."""

    def __init__(self, taxonomy):
        super().__init__()
        self._taxonomy = taxonomy

    def expand(self, rows):
        return rows | 'apply taxonomy and relabel' >> beam.ParDo(
            _ApplyTaxonomy(), beam.pvalue.AsSingleton(self._taxonomy)).with_outputs('quarantine', main='rows')


class DeriveTaxonomy(beam.PTransform):
    """Rows -> a singleton PCollection holding the taxonomy dict derived from their label counts."""

    def expand(self, rows):
        return (rows
                | 'label combination' >> beam.Map(
                    lambda r: (r['masterCategory'], r['subCategory'], r['articleType']))
                | 'count label combinations' >> beam.combiners.Count.PerElement()
                | 'gather counts' >> beam.combiners.ToDict()
                | 'derive taxonomy' >> beam.Map(lambda counts: derive(counts).to_dict()))


def class_vocabulary(taxonomy_dict):
    """The class names in class_index order."""
    return list(Taxonomy.from_dict(taxonomy_dict).classes)

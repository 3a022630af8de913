"""Reviewers' decisions joined onto scored records in the nightly job (rules/decisions.reviewed)."""
import apache_beam as beam

from pipelines.rules import decisions
from pipelines.rules.taxonomy import Taxonomy


class _Review(beam.DoFn):
    def __init__(self, taxonomy_dict):
        self._taxonomy_dict, self._taxonomy = taxonomy_dict, None

    def setup(self):
        self._taxonomy = Taxonomy.from_dict(self._taxonomy_dict)

    def process(self, record, latest):
        yield decisions.reviewed(record, latest.get(record.id), self._taxonomy)


class ApplyReviews(beam.PTransform):
    """{'records': Predictions or CatalogRecords, 'decisions': (id, Decision) of reviewers' latest settling
    decisions} -> the same records with their review columns: filled in (and unflagged) where a reviewer's latest
    decision settled the item as it is now. The decisions are read once by the job (jobs/nightly.py reads them from a
    file, so the job graph does not grow with the review history) and used here as a side input."""

    def __init__(self, taxonomy_dict):
        super().__init__()
        self._taxonomy_dict = taxonomy_dict

    def expand(self, inputs):
        return inputs['records'] | 'apply decisions' >> beam.ParDo(_Review(self._taxonomy_dict),
                                                                   beam.pvalue.AsDict(inputs['decisions']))

"""Reviewers' decisions joined onto scored records in the nightly job: the type's (rules/decisions.reviewed) and
each flagged attribute's (rules/attribute_reviews.reviewed)."""
import apache_beam as beam

from pipelines.rules import attribute_reviews, decisions
from pipelines.rules.taxonomy import Taxonomy


class _Review(beam.DoFn):
    def __init__(self, taxonomy_dict):
        self._taxonomy_dict, self._taxonomy = taxonomy_dict, None

    def setup(self):
        self._taxonomy = Taxonomy.from_dict(self._taxonomy_dict)

    def process(self, record, latest):
        found = latest[record.id]  # a multimap: empty for an item nobody decided
        of_type = next((d for d in found if isinstance(d, decisions.Decision)), None)
        of_attributes = [d for d in found if isinstance(d, attribute_reviews.AttributeDecision)]
        yield attribute_reviews.reviewed(decisions.reviewed(record, of_type, self._taxonomy), of_attributes)


class ApplyReviews(beam.PTransform):
    """{'records': Predictions or CatalogRecords, 'decisions': (id, Decision or AttributeDecision) of reviewers'
    latest settling decisions: one of the type and one per attribute at most} -> the same records with their
    review columns: filled in (and unflagged) where a reviewer's latest decision settled the item as it is now.
    The decisions are read once by the job (jobs/nightly.py reads them from a file, so the job graph does not grow
    with the review history) and used here as a side input."""

    def __init__(self, taxonomy_dict):
        super().__init__()
        self._taxonomy_dict = taxonomy_dict

    def expand(self, inputs):
        return inputs['records'] | 'apply decisions' >> beam.ParDo(_Review(self._taxonomy_dict),
                                                                   beam.pvalue.AsMultiMap(inputs['decisions']))

"""The chain score and nightly share: a catalog's rows -> given class -> scored images -> records and a
summary. Nightly adds the diff with its previous version, so that only new and changed items are scored."""
import typing

import apache_beam as beam

from pipelines.rules import changes, predictions
from pipelines.transforms.classes import AssignClass
from pipelines.transforms.count import SummarizeScores
from pipelines.transforms.diff import DiffWithPrevious
from pipelines.transforms.images import CheckImages
from pipelines.transforms.inference import ScoreImages
from pipelines.transforms.reviews import ApplyReviews


class Scoring(typing.NamedTuple):
    """How items are scored: images per RunInference batch and the flag's knobs."""
    batch_size: int = predictions.INFERENCE_BATCH_SIZE
    thresholds: predictions.Thresholds = predictions.Thresholds()


class Incremental(typing.NamedTuple):
    """How a nightly run scores: this run's id, and whether to read every image (`rehash`) rather than only
    those whose file changed. What it scores against comes in as inputs (ScoreCatalog)."""
    run_id: str
    rehash: bool = False


def _with_counts(summary, rows_read, counted_changes=None, statuses=None):
    summary = dict(summary, rows_read=rows_read)
    if counted_changes is not None:
        summary.update(changes=dict(sorted(counted_changes.items())), catalog_rows=dict(sorted(statuses.items())))
    return summary


class ScoreCatalog(beam.PTransform):
    """A catalog as ReadCatalog gives it ({'rows', 'quarantine', 'rows_read'}) -> {'records', 'quarantine',
    'summary'}. A nightly run's inputs add `previous` (the previous version's catalog records), `previous_quarantine`
    (its quarantine records) and `decisions` (reviewers' latest settling decisions: (id, Decision)).

    Each row's given class is computed under the model's taxonomy (Unknown where it cannot be placed), its
    image checked and scored. Without `incremental` (score), every row is scored and `records` are
    prediction records. With it (nightly), only rows that are new or changed since the previous version (or
    all, under a new model) are scored, and only their images and those whose file changed are read; `records`
    are then the whole catalog's records (changes.CATALOG_COLUMNS: carried ones with their status, fresh ones
    marked scored in this run), with reviewers' decisions applied.
    `summary` is a singleton dict: the scoring summary (summaries.build_summary) with `rows_read`, and for
    nightly the `changes` and `catalog_rows` counts.
    """

    def __init__(self, model, scoring=Scoring(), incremental=None):
        super().__init__()
        self._model, self._scoring, self._incremental = model, scoring, incremental

    def expand(self, catalog):
        if self._incremental is not None:
            missing = {'previous', 'previous_quarantine', 'decisions'} - set(catalog)
            if missing:
                raise ValueError(f'an incremental ScoreCatalog needs the inputs {sorted(missing)}')
        taxonomy = catalog['rows'].pipeline | "model's taxonomy" >> beam.Create([self._model.taxonomy])
        rows = (catalog['rows'] | 'given class' >> AssignClass(taxonomy, as_given=True)).rows
        if self._incremental is None:
            checked = rows | 'read and hash images' >> CheckImages(decode=False)
            to_score, image_quarantine = checked.rows, checked.quarantine
        else:
            incremental = self._incremental
            diff = ({'rows': rows, 'previous': catalog['previous'],
                     'previous_quarantine': catalog['previous_quarantine'], 'quarantine': catalog['quarantine']}
                    | 'diff with previous' >> DiffWithPrevious(self._model.export_id, incremental.run_id,
                                                               incremental.rehash))
            to_score, image_quarantine = diff['to_score'], diff['quarantine']
        scored = to_score | 'score images' >> ScoreImages(self._model, self._scoring.batch_size,
                                                           self._scoring.thresholds)
        quarantine = ((catalog['quarantine'], image_quarantine, scored.quarantine)
                      | 'all quarantine' >> beam.Flatten())
        records = scored.records
        if self._incremental is not None:
            records = ({'records': records, 'decisions': catalog['decisions']}
                       | 'reviews of scored items' >> ApplyReviews(self._model.taxonomy))
        summary = ({'records': records, 'quarantine': quarantine}
                   | 'summarize scores' >> SummarizeScores(self._model, self._scoring.thresholds))
        side = beam.pvalue
        if self._incremental is None:
            summary = summary | 'add rows read' >> beam.Map(_with_counts, side.AsSingleton(catalog['rows_read']))
            return {'records': records, 'quarantine': quarantine, 'summary': summary}
        fresh = records | 'to catalog record' >> beam.Map(changes.catalog_record, self._incremental.run_id)
        carried = ({'records': diff['carried'], 'decisions': catalog['decisions']}
                   | 'reviews of carried items' >> ApplyReviews(self._model.taxonomy))
        merged = (carried, fresh) | 'merge' >> beam.Flatten()
        counted_changes = diff['changes'] | 'count changes' >> beam.combiners.Count.PerElement()
        statuses = (merged
                    | 'status' >> beam.Map(lambda r: r.status)
                    | 'count per status' >> beam.combiners.Count.PerElement())
        summary = summary | 'add counts' >> beam.Map(_with_counts, side.AsSingleton(catalog['rows_read']),
                                                     side.AsDict(counted_changes), side.AsDict(statuses))
        return {'records': merged, 'quarantine': quarantine, 'summary': summary}

"""ScoreCatalog, the chain score and nightly share, in TestPipeline with Create and assert_that (as Beam's
tfidf example tests TfIdf), against a fake export that calls every image a Watch at 0.95."""
import io

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from pipelines.rules import catalog, changes, images, predictions, summaries
from pipelines.transforms.scoring import Incremental, ScoreCatalog
from tests import fake_export
from tests.rows import catalog_row


def _row(row_id, master, sub, article, image_path):
    return catalog_row(id=row_id, gender='Men', masterCategory=master, subCategory=sub, articleType=article,
                       baseColour='Black', season='Summer', year='2012', usage='Casual',
                       productDisplayName=f'Item {row_id}', image_path=image_path)


@pytest.fixture(scope='module')
def catalog_rows(tmp_path_factory):
    """A watch, a T-shirt (mislabelled, for a model that sees a watch), an unlabelled item, a truncated JPEG."""
    root = tmp_path_factory.mktemp('scoring')
    buffer = io.BytesIO()
    Image.new('RGB', (60, 80), 'gray').save(buffer, format='JPEG')
    jpeg = buffer.getvalue()
    paths = {}
    for name, data in (('good', jpeg), ('truncated', jpeg[:100])):
        paths[name] = str(root / f'{name}.jpg')
        with open(paths[name], 'wb') as f:
            f.write(data)
    rows = [_row('1', 'Accessories', 'Watches', 'Watches', paths['good']),
            _row('2', 'Apparel', 'Topwear', 'Tshirts', paths['good']),
            _row('3', 'Apparel', '', '', paths['good']),
            _row('4', 'Apparel', 'Topwear', 'Tshirts', paths['truncated'])]
    reader_quarantine = [catalog.quarantine_record('5', catalog.MISSING_IMAGE, 'no images/5.jpg', '5,...')]
    return rows, reader_quarantine, images.content_hash(jpeg), str(root / 'export')


def _catalog(p, rows, quarantine):
    return {'rows': p | 'rows' >> beam.Create(rows), 'quarantine': p | 'quarantine' >> beam.Create(quarantine),
            'rows_read': p | 'rows read' >> beam.Create([len(rows) + len(quarantine)])}


def test_score_catalog_scores_every_item_and_flags_the_mislabel(catalog_rows):
    rows, reader_quarantine, _, export_root = catalog_rows
    model = fake_export.write(export_root)
    with TestPipeline() as p:
        scored = _catalog(p, rows, reader_quarantine) | ScoreCatalog(model)
        assert_that(scored['records'] | 'records' >> beam.Map(
            lambda r: (r.id, r.given_class, r.predicted_class, r.disagrees, r.needs_review)),
            equal_to([('1', 'Watches', 'Watches', False, False), ('2', 'Tshirts', 'Watches', True, False),
                      ('3', 'Unknown', 'Watches', False, False)]), label='records')
        assert_that(scored['quarantine'] | 'reasons' >> beam.Map(lambda r: (r.id, r.reason)),
                    equal_to([('4', catalog.UNDECODABLE_IMAGE), ('5', catalog.MISSING_IMAGE)]), label='quarantine')
        assert_that(scored['summary'] | 'counts' >> beam.Map(
            lambda s: (s['rows_read'], s['scored'], s['quarantined'], s['unlabelled'], s['disagreements']['count'],
                       s['unknown_labelled']['filled_in'])),
            equal_to([(5, 3, 2, 1, 1, 1)]), label='summary')
        # an image-only release (from before the full-labels model) still scores, at Class level only
        assert_that(scored['records'] | 'whole label' >> beam.Map(
            lambda r: tuple(getattr(r, name) for name in predictions.FULL_LABEL_COLUMNS)),
            equal_to([(None,) * len(predictions.FULL_LABEL_COLUMNS)] * 3), label='no whole label')
        assert_that(scored['summary'] | 'kind' >> beam.Map(
            lambda s: (s['model_kind'], s['type_disagreements']['count'], 'image only (Class level): no articleType'
                       in summaries.summary_text(dict(s, model_version='1', taxonomy_version='t', runner='r',
                                                      wall_seconds=1.0, images_per_second=1.0)))),
            equal_to([('image only (Class level)', 0, True)]), label='kind')


def test_incremental_scoring_carries_unchanged_items_and_scores_the_rest(catalog_rows):
    rows, reader_quarantine, content_hash, export_root = catalog_rows
    model = fake_export.write(export_root, version='2')
    watch = rows[0]._replace(given_class='Watches', content_hash=content_hash)
    previous_watch = changes.CatalogRecord(
        id='1', model_version=model.export_id, fingerprint=changes.fingerprint_of(watch), status=changes.ACTIVE,
        predicted_class='Watches', scored_in_run='r0', updated_in_run='r0')
    gone = previous_watch._replace(id='9', fingerprint='other')
    with TestPipeline() as p:
        previous = p | 'previous' >> beam.Create([previous_watch, gone])
        previous_quarantine = p | 'previous quarantine' >> beam.Create([])
        inputs = dict(_catalog(p, rows, reader_quarantine), previous=previous, previous_quarantine=previous_quarantine,
                      decisions=p | 'decisions' >> beam.Create([]))
        scored = inputs | ScoreCatalog(model, incremental=Incremental('r1'))
        assert_that(scored['records'] | 'status' >> beam.Map(lambda r: (r.id, r.status, r.scored_in_run)),
                    equal_to([('1', 'active', 'r0'), ('2', 'active', 'r1'), ('3', 'active', 'r1'),
                              ('9', 'removed', 'r0')]), label='records')
        assert_that(scored['summary'] | 'counts' >> beam.Map(lambda s: (s['scored'], s['changes'])),
                    equal_to([(2, {'known_removed': 1, 'new': 2, 'unchanged': 1})]), label='summary')


def test_the_nightly_inputs_are_the_composites_declared_inputs(catalog_rows):
    """What ScoreCatalog scores against reaches it through `expand`, so the graph shows it as the composite's input
    (a runner's UI and the pipeline's proto), not hidden in its constructor."""
    rows, reader_quarantine, _, export_root = catalog_rows
    model = fake_export.write(export_root, version='2')
    p = TestPipeline()
    previous = p | 'previous' >> beam.Create([])
    inputs = dict(_catalog(p, rows, reader_quarantine), previous=previous,
                  previous_quarantine=p | 'previous quarantine' >> beam.Create([]),
                  decisions=p | 'decisions' >> beam.Create([]))
    _ = inputs | 'score' >> ScoreCatalog(model, incremental=Incremental('r1'))
    applied = {t.full_label: t for t in _applied(p.transforms_stack[0])}
    declared = set(applied['score'].main_inputs.values())
    assert previous in declared and inputs['decisions'] in declared
    assert previous in set(applied['score/diff with previous'].main_inputs.values())
    assert inputs['decisions'] in set(applied['score/reviews of carried items'].main_inputs.values())
    with pytest.raises(ValueError, match='previous_quarantine'):
        _ = {'rows': previous} | 'incomplete' >> ScoreCatalog(model, incremental=Incremental('r1'))


def _applied(node):
    yield node
    for part in node.parts:
        yield from _applied(part)

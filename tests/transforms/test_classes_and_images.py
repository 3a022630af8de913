"""The stages prepare and scoring share: AssignClass in its two modes, and CheckImages."""
import io

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.typehints.decorators import TypeCheckError
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from pipelines.rules import catalog, images, taxonomy
from pipelines.transforms.classes import AssignClass
from pipelines.transforms.images import CheckImages
from tests.rows import catalog_row


def _row(row_id, master, sub, article, name='Item'):
    return catalog_row(id=row_id, masterCategory=master, subCategory=sub, articleType=article, productDisplayName=name)


ROWS = [_row('1', 'Apparel', 'Topwear', 'Tshirts'),
        _row('2', 'Free Items', 'Free Gifts', 'Free Gifts', 'Titan Men Black Digital Watch'),
        _row('3', 'Home', 'Home Furnishing', 'Cushion Covers'),
        _row('4', 'Toys', 'Toys', 'Spaceship')]


def test_assign_class_quarantines_for_training_and_says_unknown_for_scoring():
    shipped = taxonomy.load()
    expected = {row.id: shipped.class_of(row.labels, row.productDisplayName) for row in ROWS}
    assert expected['1'].class_name == 'Tshirts' and expected['2'].class_name == 'Watches'
    assert expected['3'].label is None and expected['3'].reason == catalog.LABEL_BELOW_MIN_COUNT
    with TestPipeline() as p:
        taxonomy_pc = p | 'taxonomy' >> beam.Create([shipped.to_dict()])
        rows = p | 'rows' >> beam.Create(ROWS)
        training = rows | 'training' >> AssignClass(taxonomy_pc)
        scoring = rows | 'scoring' >> AssignClass(taxonomy_pc, as_given=True)
        assert_that(training.rows | 'class' >> beam.Map(lambda r: (r.id, r.label, r.class_name)),
                    equal_to([('1', 'Tshirts', 'Tshirts'), ('2', 'Free Items', 'Watches')]), label='kept')
        assert_that(training.quarantine | 'reason' >> beam.Map(lambda r: (r.id, r.reason)),
                    equal_to([('3', catalog.LABEL_BELOW_MIN_COUNT), ('4', catalog.LABEL_OUTSIDE_TAXONOMY)]),
                    label='quarantined')
        assert_that(scoring.rows | 'given' >> beam.Map(lambda r: (r.id, r.given_class)),
                    equal_to([('1', 'Tshirts'), ('2', 'Watches'), ('3', 'Unknown'), ('4', 'Unknown')]),
                    label='scored rows all kept')
        assert_that(scoring.quarantine, equal_to([]), label='scoring quarantines nothing')


def test_check_images_hashes_good_jpegs_and_quarantines_the_rest(tmp_path):
    buffer = io.BytesIO()
    Image.new('RGB', (60, 80), 'white').save(buffer, 'JPEG')
    good = buffer.getvalue()
    paths = {'1': (tmp_path / '1.jpg', good), '2': (tmp_path / '2.jpg', good[:200]), '3': (tmp_path / '3.jpg', b'png')}
    for path, data in paths.values():
        path.write_bytes(data)
    rows = [_row(row_id, 'Apparel', 'Topwear', 'Tshirts')._replace(image_path=str(path))
            for row_id, (path, _) in paths.items()]
    with TestPipeline() as p:
        checked = p | beam.Create(rows) | CheckImages()
        assert_that(checked.rows | 'hash' >> beam.Map(lambda pair: (pair[0].id, pair[0].content_hash, pair[1])),
                    equal_to([('1', images.content_hash(good), good)]), label='kept with hash and bytes')
        assert_that(checked.quarantine | 'reason' >> beam.Map(lambda r: (r.id, r.reason)),
                    equal_to([('2', catalog.UNDECODABLE_IMAGE), ('3', catalog.UNDECODABLE_IMAGE)]),
                    label='quarantined')


def test_a_dict_is_not_a_catalog_row():
    """The stages declare CatalogRow, so a dict standing in for a row fails when the pipeline is built."""
    p = TestPipeline()
    taxonomy_pc = p | 'taxonomy' >> beam.Create([taxonomy.load().to_dict()])
    rows = p | 'dicts' >> beam.Create([ROWS[0]._asdict()])
    with pytest.raises(TypeCheckError, match='CatalogRow'):
        _ = rows | AssignClass(taxonomy_pc)
    _ = p | 'rows' >> beam.Create(ROWS) | 'typed' >> AssignClass(taxonomy_pc)

"""ReadCatalog on a handful of lines: which rows it keeps, which it quarantines and why."""
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.rules import catalog
from pipelines.transforms.read import ReadCatalog

HEADER = ','.join(catalog.COLUMNS)


def _line(row_id, article='Tshirts'):
    return f'{row_id},Men,Apparel,Topwear,{article},Blue,Summer,2012,Casual,Item {row_id}'


def test_reader_resolves_duplicates_missing_and_empty_images(tmp_path):
    os.makedirs(tmp_path / 'images')
    lines = [_line(1), _line(2), _line(2, 'Shirts'), _line(3), _line(4), _line('x'), '']
    (tmp_path / 'styles.csv').write_text('\n'.join([HEADER, *lines]) + '\n', encoding='utf-8')
    for image_id, data in (('1', b'jpeg'), ('2', b'jpeg'), ('4', b''), ('9', b'jpeg')):
        (tmp_path / 'images' / f'{image_id}.jpg').write_bytes(data)
    with TestPipeline() as p:
        read = p | ReadCatalog(str(tmp_path), catalog.read_header(str(tmp_path)))
        assert_that(read['rows'] | 'kept id' >> beam.Map(lambda r: (r.id, os.path.basename(r.image_path))),
                    equal_to([('1', '1.jpg')]), label='only the unique row with an image is kept')
        assert_that(read['quarantine'] | 'reason' >> beam.Map(lambda r: (r.id, r.reason)),
                    equal_to([('2', catalog.DUPLICATE_ID), ('2', catalog.DUPLICATE_ID), ('3', catalog.MISSING_IMAGE),
                              ('4', catalog.UNDECODABLE_IMAGE), ('x', catalog.INVALID_ID)]),
                    label='every other non-blank line is quarantined with its reason')
        assert_that(read['rows_read'], equal_to([6]), label='blank lines are not rows')
        assert_that(read['orphan_images'], equal_to(['9']), label='an image no row names')

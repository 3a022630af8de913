"""ScoreImages: the model's batched decode is scoring's image check. A JPEG that does not decode fails its batch;
the batch is then scored image by image, and only the bad image is set aside, with its reason."""
import io

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from pipelines.rules import catalog, images
from pipelines.transforms.inference import ScoreImages
from tests import fake_export
from tests.rows import catalog_row


def _pairs(count, bad=()):
    """(row, JPEG bytes) for `count` gray product images; those numbered in `bad` are truncated: they start as a
    JPEG and do not decode."""
    buffer = io.BytesIO()
    Image.new('RGB', (60, 80), 'gray').save(buffer, format='JPEG')
    jpeg = buffer.getvalue()
    pairs = []
    for n in range(count):
        data = jpeg[:100] if n in bad else jpeg
        row = catalog_row(id=str(n), image_path=f'/images/{n}.jpg', given_class='Watches',
                          content_hash=images.content_hash(data), masterCategory='Accessories', subCategory='Watches',
                          articleType='Watches', productDisplayName=f'Item {n}')
        pairs.append((row, data))
    return pairs


def test_a_bad_jpeg_is_set_aside_and_the_rest_of_its_batch_scored(tmp_path):
    pairs = _pairs(20, bad=(3, 17))
    model = fake_export.write(str(tmp_path / 'export'))
    with TestPipeline() as p:
        scored = p | beam.Create(pairs) | ScoreImages(model, batch_size=8)
        assert_that(scored.records | 'ids' >> beam.Map(lambda r: r.id),
                    equal_to([str(n) for n in range(20) if n not in (3, 17)]), label='scored')
        assert_that(scored.quarantine | 'reasons' >> beam.Map(
            lambda r: (r.id, r.reason, 'decode' in r.detail and r.detail.startswith(f'images/{r.id}.jpg: '))),
                    equal_to([('3', catalog.UNDECODABLE_IMAGE, True), ('17', catalog.UNDECODABLE_IMAGE, True)]),
                    label='set aside')


def test_inference_runs_in_batches_of_the_batch_size_not_beam_s_adaptive_smaller_ones(tmp_path):
    model = fake_export.write(str(tmp_path / 'export'))
    p = TestPipeline()
    _ = p | beam.Create(_pairs(20)) | ScoreImages(model, batch_size=8)
    result = p.run()
    result.wait_until_finish()
    sizes = result.metrics().query(MetricsFilter().with_name('batch_size'))['distributions']
    assert sizes and sizes[0].committed.max == 8 and sizes[0].committed.min >= 20 % 8  # 8, 8 and the last 4

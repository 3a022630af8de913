import collections
import io
import os

import pytest
from PIL import Image

from pipelines.errors import UserError
from pipelines.jobs import synth
from pipelines.rules import catalog, taxonomy


def test_same_seed_same_catalog():
    assert synth.generate(150, seed=3) == synth.generate(150, seed=3)
    assert synth.generate(150, seed=3)[0] != synth.generate(150, seed=4)[0]


def test_every_shipped_class_is_present_and_imbalanced():
    styles, _ = synth.generate(300, seed=1)
    shipped = taxonomy.load()
    labels = collections.Counter(
        shipped.raw_label(r['masterCategory'], r['subCategory'], r['articleType']) for r in styles)
    assert set(labels) == set(shipped.labels)
    assert max(labels.values()) >= 4 * min(labels.values())


def test_real_catalog_quirks_are_there():
    styles, jpegs = synth.generate(300, seed=1)
    assert len(jpegs) < len(styles)
    decoded = [Image.open(io.BytesIO(data)) for data in jpegs.values()]
    assert any(image.mode == 'L' for image in decoded)
    assert any(image.size != (synth.WIDTH, synth.HEIGHT) for image in decoded)
    free_names = [r['productDisplayName'] for r in styles if r['masterCategory'] == 'Free Items']
    assert any('Watch' in n for n in free_names) and any('Tie' in n for n in free_names)


def test_written_catalog_passes_the_reader(synthetic_catalog):
    header = catalog.read_header(synthetic_catalog)
    with open(catalog.styles_path(synthetic_catalog), 'rb') as f:
        lines = f.read().splitlines()[1:]
    parsed = [catalog.parse_line(line, header) for line in lines]
    assert all(kind == 'row' for kind, _ in parsed)
    assert len(os.listdir(catalog.images_dir(synthetic_catalog))) < len(parsed)


def test_too_few_rows_is_a_clear_error():
    with pytest.raises(UserError, match='at least'):
        synth.generate(20)


@pytest.mark.parametrize('brand', synth.BRANDS)
def test_free_item_names_relabel_the_same_for_every_brand(brand):
    relabeler = taxonomy.load().relabeler
    got = [relabeler.match(name.format(brand=brand))[0] for name in synth.FREE_ITEM_NAMES]
    assert got == ['Watches', 'Ties', 'Saree', 'Eyewear', 'Wallets', None]

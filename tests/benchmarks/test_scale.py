"""benchmarks/scale.py: a catalog of N items from a source, the same for a seed, with the source's quirks at their
rates and every image's content new."""
import csv
import hashlib
import importlib.util
import os
import shutil
import sys

import pytest

from pipelines.jobs import synth
from pipelines.rules import catalog

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def scale():
    spec = importlib.util.spec_from_file_location('scale', os.path.join(ROOT, 'benchmarks', 'scale.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules['scale'] = module  # its worker processes find their function by the module's name
    spec.loader.exec_module(module)
    yield module
    del sys.modules['scale']


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """100 synthetic items, one of them without its image, and two quirky lines: a Kaggle line whose name holds an
    unquoted comma, and a row with an empty season."""
    folder = tmp_path_factory.mktemp('source')
    styles, jpegs = synth.generate(100, seed=3)
    synth.write_catalog(str(folder), styles, jpegs)
    with_image = [r for r in styles if r['id'] in jpegs]
    os.remove(catalog.image_path(str(folder), with_image[0]['id']))
    for n, line in enumerate(('{id},Men,Apparel,Topwear,Tshirts,Blue,Summer,2012,Casual,Flying Machine Men Blue, Tee',
                              '{id},Women,Apparel,Topwear,Tops,Red,,2012,Casual,Vero Moda Women Red Top')):
        item_id = str(900000 + n)
        with open(catalog.styles_path(str(folder)), 'a', encoding='utf-8') as f:
            f.write(line.format(id=item_id) + '\n')
        shutil.copy(catalog.image_path(str(folder), with_image[1]['id']), catalog.image_path(str(folder), item_id))
    return str(folder)


def _read(folder):
    with open(catalog.styles_path(folder), encoding='utf-8', newline='') as f:
        return list(csv.reader(f))[1:]


def _hashes(folder):
    images = os.path.join(folder, 'images')
    return {name: hashlib.sha256(open(os.path.join(images, name), 'rb').read()).hexdigest()
            for name in os.listdir(images)}


def test_n_items_keep_the_sources_quirks_at_their_rates_and_every_image_is_new(scale, source, tmp_path):
    sources = _read(source)
    copies = 3
    result = scale.build(source, str(tmp_path / 'a'), copies * len(sources), workers=1)
    rows = _read(str(tmp_path / 'a'))
    assert [r[0] for r in rows] == [str(i) for i in range(1, copies * len(sources) + 1)]
    assert sum(len(r) > len(catalog.COLUMNS) for r in rows) == copies  # the comma line, as it was
    assert sum(r[6] == '' for r in rows) == copies * sum(r[6] == '' for r in sources)
    missing = sum(not os.path.exists(catalog.image_path(source, r[0])) for r in sources)
    assert missing >= 1 and result['missing_images'] == copies * missing
    assert len(_hashes(str(tmp_path / 'a'))) == result['images']
    new, old = _hashes(str(tmp_path / 'a')), _hashes(source)
    assert len(set(new.values())) == len(new) and not set(new.values()) & set(old.values())
    names = {}
    for row in rows:
        names.setdefault(tuple(row[1:9]), set()).add(row[-1])
    assert sum(len(found) > 1 for found in names.values()) > len(sources) // 2  # copies vary their names
    for row in rows:  # ...within their own words
        assert any(sorted(row[-1].split(' ')) == sorted(s[-1].split(' ')) for s in sources if s[1:9] == row[1:9])


def test_the_same_seed_builds_the_same_catalog_and_another_seed_another(scale, source, tmp_path):
    for name, seed in (('a', 1), ('b', 1), ('c', 2)):
        scale.build(source, str(tmp_path / name), 100, seed=seed, workers=2)
    assert _read(str(tmp_path / 'a')) == _read(str(tmp_path / 'b')) != _read(str(tmp_path / 'c'))
    assert _hashes(str(tmp_path / 'a')) == _hashes(str(tmp_path / 'b'))

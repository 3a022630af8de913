"""When an image file is taken to be the one a record was made from."""
from pipelines.rules import changes


def _row(size=100, mtime=1_700_000_000.5):
    return {'id': '1', 'image_size': size, 'image_mtime': mtime}


def test_the_same_size_and_time_is_the_same_file():
    assert changes.same_image_file(_row(), changes.image_file(_row()))


def test_another_size_or_time_is_another_file():
    assert not changes.same_image_file(_row(size=101), changes.image_file(_row()))
    assert not changes.same_image_file(_row(mtime=1_700_000_000.6), changes.image_file(_row()))


def test_unknown_metadata_is_never_the_same_file():
    assert not changes.same_image_file(_row(), None)
    assert not changes.same_image_file(_row(), {'id': '1'})  # a record published before the columns existed
    assert not changes.same_image_file(_row(mtime=0.0), changes.image_file(_row(mtime=0.0)))  # no time reported

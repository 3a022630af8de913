"""When an image file is taken to be the one a record was made from."""
from pipelines.rules import changes
from tests.rows import catalog_row


def _row(size=100, mtime=1_700_000_000.5):
    return catalog_row(id='1', image_size=size, image_mtime=mtime)


def _stored(row):
    return changes.CatalogRecord(id=row.id, **changes.image_file(row))


def test_the_same_size_and_time_is_the_same_file():
    assert changes.same_image_file(_row(), _stored(_row()))


def test_another_size_or_time_is_another_file():
    assert not changes.same_image_file(_row(size=101), _stored(_row()))
    assert not changes.same_image_file(_row(mtime=1_700_000_000.6), _stored(_row()))


def test_unknown_metadata_is_never_the_same_file():
    assert not changes.same_image_file(_row(), None)
    published_before_the_columns = changes.CatalogRecord(id='1')
    assert not changes.same_image_file(_row(), published_before_the_columns)
    assert not changes.same_image_file(_row(mtime=0.0), _stored(_row(mtime=0.0)))  # no modification time

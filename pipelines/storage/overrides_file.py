"""A label_overrides.csv or attribute_overrides.csv on any FileSystem: reviewers' settled decisions as prepare's
--overrides and --attribute-overrides read them (rules/overrides.py and rules/attribute_reviews.py hold their
columns and checks)."""
import csv
import io

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.errors import UserError
from pipelines.rules import attribute_reviews, overrides
from pipelines.storage import files


def write(path, rows):
    files.write_text(path, overrides.to_csv(rows))


def write_attributes(path, rows):
    files.write_text(path, attribute_reviews.to_csv(rows))


def read(path, of_attributes=False):
    """{id: override row} of a label_overrides.csv (with `of_attributes`, {(id, attribute): row} of an
    attribute_overrides.csv); UserError when it cannot be read or is not one."""
    try:
        text = files.read_text(path)
    except (IOError, OSError) as e:
        flag = '--attribute-overrides' if of_attributes else '--overrides'
        raise UserError(f'cannot read {flag} {path!r}: {e}') from e
    return (attribute_reviews if of_attributes else overrides).parse(text, path)


def fieldnames(path):
    """The column names of a label_overrides.csv, in its order: its first line, read alone (the launcher has read
    the whole file once already, to check it)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        first = f.readline().decode('utf-8')
    return next(csv.reader(io.StringIO(first)), [])

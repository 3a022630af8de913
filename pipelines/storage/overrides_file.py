"""A label_overrides.csv on any FileSystem: reviewers' settled decisions as prepare's --overrides reads them
(rules/overrides.py holds its columns and checks)."""
import csv
import io

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.errors import UserError
from pipelines.rules import overrides
from pipelines.storage import files


def write(path, rows):
    files.write_text(path, overrides.to_csv(rows))


def read(path):
    """{id: override row} of a label_overrides.csv; UserError when it cannot be read or is not one."""
    try:
        text = files.read_text(path)
    except (IOError, OSError) as e:
        raise UserError(f'cannot read --overrides {path!r}: {e}') from e
    return overrides.parse(text, path)


def fieldnames(path):
    """The column names of a label_overrides.csv, in its order: its first line, read alone (the launcher has read
    the whole file once already, to check it)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        first = f.readline().decode('utf-8')
    return next(csv.reader(io.StringIO(first)), [])

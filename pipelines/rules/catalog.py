"""Reading `styles.csv` the way real exports come, one line at a time.

Beam's ReadFromCsv hands the file to pandas, which stops at the first malformed line; the product must
instead keep or quarantine every line. So the header is read once by the driver (it fixes the column
order and fails fast on a missing column), and each other line is parsed here with the csv module.
Quoted fields holding commas and quotes are handled; a quoted field holding a line break is not (the file
is split into lines before parsing): its pieces are quarantined as wrong field counts. Kaggle's own
styles.csv has lines whose display name holds unquoted commas: the display name is the last column and the
only free text, so such a line is repaired (its extra fields joined back into it) and counted, not dropped.
"""
import csv
import re
import typing

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError

COLUMNS = ('id', 'gender', 'masterCategory', 'subCategory', 'articleType', 'baseColour', 'season',
           'year', 'usage', 'productDisplayName')
FREE_TEXT_COLUMNS = ('productDisplayName',)  # where an unquoted comma can belong to the value
LABEL_COLUMNS = ('masterCategory', 'subCategory', 'articleType')

# Quarantine reason codes: every row that is not kept carries exactly one.
INVALID_ENCODING = 'invalid_encoding'
WRONG_FIELD_COUNT = 'wrong_field_count'
INVALID_ID = 'invalid_id'
EMPTY_LABEL = 'empty_label'
DUPLICATE_ID = 'duplicate_id'
MISSING_IMAGE = 'missing_image'
UNDECODABLE_IMAGE = 'undecodable_image'
LABEL_BELOW_MIN_COUNT = 'label_below_min_count'
LABEL_OUTSIDE_TAXONOMY = 'label_outside_taxonomy'

# The image file's size and modification time as the store's match reported them when its bytes were last read.
IMAGE_FILE_COLUMNS = ('image_size', 'image_mtime')


class CatalogRow(typing.NamedTuple):
    """One parsed styles.csv line, kept, as it flows through the jobs: the columns the product reads (a header's
    other columns stay in `line`), the raw `line`, its `line_number` (from 1, the header included) and whether it
    was `repaired`. Later stages fill in what they find, by `_replace`: the reader the image file's path, size
    and modification time; the image check its `content_hash`; the taxonomy either `given_class` (scoring) or
    `label`, `class_name` and `relabel` ({best_match, similarity} of a relabelled row; training); an applied
    reviewer's correction its decision in `override`."""
    id: str
    gender: str
    masterCategory: str
    subCategory: str
    articleType: str
    baseColour: str
    season: str
    year: str
    usage: str
    productDisplayName: str
    line: str
    line_number: typing.Optional[int] = None
    repaired: bool = False
    image_path: typing.Optional[str] = None
    image_size: typing.Optional[int] = None
    image_mtime: typing.Optional[float] = None
    content_hash: typing.Optional[str] = None
    given_class: typing.Optional[str] = None
    label: typing.Optional[str] = None
    class_name: typing.Optional[str] = None
    relabel: typing.Optional[typing.Dict[str, typing.Any]] = None
    override: typing.Optional[str] = None

    @property
    def labels(self):
        return self.masterCategory, self.subCategory, self.articleType


def labels_of(record):
    """(masterCategory, subCategory, articleType) of a record read as a dict (the review app's published records,
    styles.csv rows written by tests and benchmarks)."""
    return tuple(record[c] for c in LABEL_COLUMNS)

# Ids become file names and keys: digits only, so `../../etc/passwd` can never reach a path.
_ID_PATTERN = re.compile(r'^[0-9]{1,18}$')


def is_valid_id(text):
    """Whether `text` can be an id: digits only, so it is safe as a file name and a key."""
    return bool(text) and bool(_ID_PATTERN.match(text))


def styles_path(catalog_dir):
    return FileSystems.join(catalog_dir, artifacts.STYLES)


def images_dir(catalog_dir):
    return FileSystems.join(catalog_dir, artifacts.IMAGES)


def image_path(catalog_dir, item_id):
    """images/<id>.jpg of a catalog: an id is digits only (is_valid_id), so this stays inside images/."""
    return FileSystems.join(images_dir(catalog_dir), f'{item_id}.jpg')


def read_header(catalog_dir):
    """Returns the column names of `styles.csv` in file order; raises UserError when unusable."""
    path = styles_path(catalog_dir)
    if not FileSystems.exists(path):
        raise UserError(f'no styles.csv in catalog {catalog_dir!r} (looked for {path})')
    try:
        with FileSystems.open(path) as f:
            first = f.readline()
    except Exception as e:  # pylint: disable=broad-except
        raise UserError(f'cannot read {path}: {e}') from e
    try:
        text = first.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        raise UserError(f'{path}: the header is not UTF-8 ({e})') from e
    names = tuple(name.strip() for name in next(csv.reader([text.rstrip('\r\n')]), []))
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise UserError(f'{path}: missing required column(s): {", ".join(missing)} '
                        f'(header has: {", ".join(names) or "nothing"})')
    return names


def empty_labels(labels):
    """The label columns that `labels` ((masterCategory, subCategory, articleType)) leave empty: such a row is
    scored (its given class is Unknown) but never trained on (prepare quarantines it as `empty_label`)."""
    return [c for c, value in zip(LABEL_COLUMNS, labels, strict=True) if not value]


class Quarantined(typing.NamedTuple):
    """A row that is not kept, and why: one line of `quarantine/*.jsonl`. `id` is as read (None when the line
    could not be decoded); `reason` is one of the reason codes above; `line_number` counts styles.csv's lines
    from 1, the header included; `image_size` and `image_mtime` are the image file's, for a row that had one, so
    that the nightly need not read a rejected image again until it changes."""
    id: typing.Optional[str]
    reason: str
    detail: str
    line: str
    line_number: typing.Optional[int] = None
    image_size: typing.Optional[int] = None
    image_mtime: typing.Optional[float] = None


def quarantined_from_dict(data):
    """A quarantine record as read back from a jsonl line (json.loads); fields a record written before they existed
    lacks take their defaults."""
    return Quarantined(**{name: data[name] for name in Quarantined._fields if name in data})


def quarantine_record(row_id, reason, detail, line, line_number=None):
    return Quarantined(row_id, reason, detail, line, line_number)


def quarantine_row(row, reason, detail):
    """A parsed row's quarantine record."""
    return Quarantined(row.id, reason, detail, row.line, row.line_number, row.image_size, row.image_mtime)


def parse_line(raw, header, line_number=None):
    """Parses one line of styles.csv (bytes, without its line end; `line_number` counts from 1, the header
    included).

    Returns ('row', CatalogRow: the columns, the raw `line`, its `line_number` and `repaired`: whether extra
    fields were joined back into the free-text last column), ('quarantine', record), or None for a blank line.
    A line with too few fields, or with extra fields while the header's last column is not free text, stays
    ambiguous and is quarantined. Empty label columns do not quarantine a row here: only training needs
    labels (Taxonomy.class_of).
    """
    try:
        line = raw.decode('utf-8').rstrip('\r')
    except UnicodeDecodeError as e:
        line = raw.decode('utf-8', errors='replace').rstrip('\r')
        return 'quarantine', quarantine_record(None, INVALID_ENCODING, f'not UTF-8: {e}', line, line_number)
    if not line.strip():
        return None
    fields = next(csv.reader([line]))
    first = fields[0].strip() if fields else ''
    repaired = len(fields) > len(header) and header[-1] in FREE_TEXT_COLUMNS
    if repaired:
        fields = fields[:len(header) - 1] + [','.join(fields[len(header) - 1:])]
    if len(fields) != len(header):
        return 'quarantine', quarantine_record(
            first, WRONG_FIELD_COUNT, f'{len(fields)} fields, the header has {len(header)}', line, line_number)
    cells = {name: value.strip() for name, value in zip(header, fields)}
    if not is_valid_id(cells['id']):
        return 'quarantine', quarantine_record(
            cells['id'], INVALID_ID, f'id {cells["id"]!r} is not a non-negative integer', line, line_number)
    return 'row', CatalogRow(**{name: cells[name] for name in COLUMNS}, line=line, line_number=line_number,
                             repaired=repaired)

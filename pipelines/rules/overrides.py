"""Reviewers' label corrections as rows of a `label_overrides.csv` (storage/overrides_file.py keeps the file) and
how prepare applies one to a row.

An override carries the fingerprint of the item the reviewer saw (label columns, display name, image content
hash: changes.fingerprint). It applies only while the row still has that fingerprint: a row or image that
changed since the decision makes the override stale, and it is skipped, never forced onto new content.
"""
import csv
import io

from pipelines.errors import UserError
from pipelines.rules import catalog, changes, decisions

COLUMNS = ('id', *catalog.LABEL_COLUMNS, 'decision', 'decided_by', 'decided_at', 'fingerprint', 'article_chosen_by')
OPTIONAL = ('article_chosen_by',)  # files exported before it was recorded still read
APPLIED, STALE, IGNORED = 'applied', 'stale', 'ignored'
UNKNOWN_ID, LABEL_OUTSIDE_TAXONOMY, FINGERPRINT_CHANGED = 'unknown_id', 'label_outside_taxonomy', 'fingerprint_changed'


def from_decisions(latest):
    """The override rows of the latest decisions that settle an item (accept, relabel, keep), by id."""
    return [{name: getattr(d, name) for name in COLUMNS} for _, d in sorted(latest.items(), key=lambda kv: int(kv[0]))
            if d.settles]


def to_csv(rows, columns=COLUMNS):
    """The text of a label_overrides.csv holding `rows` (of another overrides file, with its `columns`)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def parse(text, source):
    """{id: override row} of a label_overrides.csv's text; UserError, naming `source`, when it is not one. Each
    row is one line (prepare reads the file line by line in its pipeline: parse_line) and each id appears once."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ()) and c not in OPTIONAL]
    if missing:
        raise UserError(f'--overrides {source!r} is not a label_overrides.csv: missing column(s) {", ".join(missing)}')
    rows = list(reader)
    bad = [r['id'] for r in rows if not catalog.is_valid_id(r['id']) or r['decision'] not in decisions.SETTLING
           or any('\n' in v or '\r' in v for v in r.values() if isinstance(v, str))]
    if bad:
        raise UserError(f'--overrides {source!r}: rows with an invalid id or decision, or a value over two lines: '
                        f'{", ".join(bad[:5])}')
    by_id = {r['id']: r for r in rows}
    if len(by_id) < len(rows):
        raise UserError(f'--overrides {source!r}: {len(rows) - len(by_id)} id(s) listed more than once')
    return by_id


def parse_line(line, fieldnames):
    """One data line of a label_overrides.csv that `parse` accepted, as its row dict."""
    return dict(zip(fieldnames, next(csv.reader([line]))))


def outcome(override, status, reason=None):
    return {'id': override['id'], 'outcome': status, 'reason': reason, 'decision': override['decision'],
            'decided_by': override['decided_by'], 'decided_at': override['decided_at']}


def apply(row, override, content_hash, taxonomy):
    """(the CatalogRow, with the override's labels when it applies, and `override` naming its decision; the
    outcome record)."""
    if changes.fingerprint(row.labels, row.productDisplayName, content_hash) != override['fingerprint']:
        return row, outcome(override, STALE, FINGERPRINT_CHANGED)
    labels = {name: override[name] for name in catalog.LABEL_COLUMNS}
    if taxonomy.classify(*labels.values())[0] is None:
        return row, outcome(override, IGNORED, LABEL_OUTSIDE_TAXONOMY)
    return row._replace(**labels, override=override['decision']), outcome(override, APPLIED)


def summary(outcomes):
    """The manifest's `overrides` entry: counts per outcome and every outcome record, by id."""
    counts = {APPLIED: 0, STALE: 0, IGNORED: 0}
    for record in outcomes:
        counts[record['outcome']] += 1
    return dict(counts, items=sorted(outcomes, key=lambda r: int(r['id'])))

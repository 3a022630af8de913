"""What happened to a catalog item since the previous nightly run, and how its record carries over."""
import hashlib
import json

from pipelines.rules import catalog, predictions

ACTIVE, REMOVED, QUARANTINED = 'active', 'removed', 'quarantined'
# What happened to an id in a run; `summary.json` counts each.
NEW, CHANGED, RESCORED, UNCHANGED = 'new', 'changed', 'rescored', 'unchanged'
REVIEW_COLUMNS = ('reviewed_class', 'reviewed_decision', 'reviewed_by', 'reviewed_at')  # rules/decisions.reviewed
# The image file's size and modification time as the store's match reported them when its bytes were last read.
IMAGE_FILE_COLUMNS = ('image_size', 'image_mtime')
CATALOG_COLUMNS = (*predictions.PREDICTION_COLUMNS, *REVIEW_COLUMNS, 'fingerprint', 'status', 'scored_in_run',
                   'updated_in_run', *IMAGE_FILE_COLUMNS)


def fingerprint(row):
    """What, when it changes, makes an item worth scoring again: its labels, its name, its image bytes."""
    fields = [row[name] for name in (*catalog.LABEL_COLUMNS, 'productDisplayName', 'content_hash')]
    return hashlib.sha256(json.dumps(fields).encode('utf-8')).hexdigest()


def same_image_file(row, stored):
    """Whether today's image file of `row` is, by its size and modification time, the one whose bytes `stored`
    (a previous record or quarantine record, as a dict) was made from. Unknown metadata (none stored, or a store
    that reports no modification time: 0) is never the same, so such an image is read. A file rewritten with the
    same size and time is the one case this cannot see (`nightly --rehash`)."""
    return (stored is not None and bool(row.get('image_mtime')) and stored.get('image_mtime') == row['image_mtime']
            and stored.get('image_size') == row.get('image_size'))


def image_file(row):
    """The row's image file metadata, for the published record."""
    return {name: row.get(name) for name in IMAGE_FILE_COLUMNS}


def change(row, previous, export_id):
    """NEW, CHANGED, RESCORED (same item, new model: `export_id` is the model's) or UNCHANGED, for a current row
    and its previous record."""
    if previous is None or previous['status'] == REMOVED:
        return NEW
    if previous['fingerprint'] != fingerprint(row):
        return CHANGED
    if previous['model_version'] != export_id:
        return RESCORED
    return UNCHANGED


def with_status(previous, status, run_id):
    """The previous record carried over with `status`, marked updated in this run when the status changed."""
    return previous if previous['status'] == status else dict(previous, status=status, updated_in_run=run_id)


def catalog_record(record, run_id):
    """A freshly scored prediction record as a row of the published catalog."""
    row = {name: record.get(name) for name in (*predictions.PREDICTION_COLUMNS, *REVIEW_COLUMNS, *IMAGE_FILE_COLUMNS)}
    return dict(row, fingerprint=fingerprint(record), status=ACTIVE, scored_in_run=run_id, updated_in_run=run_id)

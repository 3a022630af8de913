"""What happened to a catalog item since the previous nightly run, and how its record carries over."""
import hashlib
import json

from pipelines.rules import catalog, predictions

ACTIVE, REMOVED, QUARANTINED = 'active', 'removed', 'quarantined'
# What happened to an id in a run; `summary.json` counts each.
NEW, CHANGED, RESCORED, UNCHANGED = 'new', 'changed', 'rescored', 'unchanged'
CATALOG_COLUMNS = (*predictions.PREDICTION_COLUMNS, *predictions.REVIEW_COLUMNS, 'fingerprint', 'status',
                   'scored_in_run', 'updated_in_run', *catalog.IMAGE_FILE_COLUMNS)
CatalogRecord = predictions.record_type(
    'CatalogRecord', CATALOG_COLUMNS,
    """One item of the nightly's published catalog: its prediction, its review, its fingerprint, its status
    (ACTIVE, REMOVED, QUARANTINED), the runs that scored and last changed it, and its image file's metadata.""",
    __name__)


def fingerprint(labels, display_name, content_hash):
    """What, when it changes, makes an item worth scoring again: its labels ((masterCategory, subCategory,
    articleType)), its name, its image bytes."""
    return hashlib.sha256(json.dumps([*labels, display_name, content_hash]).encode('utf-8')).hexdigest()


def fingerprint_of(item):
    """The fingerprint of a typed row or record."""
    return fingerprint(item.labels, item.productDisplayName, item.content_hash)


def same_image_file(row, stored):
    """Whether today's image file of `row` is, by its size and modification time, the one whose bytes `stored`
    (a previous CatalogRecord or a Quarantined record) was made from. Unknown metadata (none stored, or a store
    that reports no modification time: 0) is never the same, so such an image is read. A file rewritten with the
    same size and time is the one case this cannot see (`nightly --rehash`)."""
    return (stored is not None and bool(row.image_mtime) and stored.image_mtime == row.image_mtime
            and stored.image_size == row.image_size)


def image_file(row):
    """The row's image file metadata, for the published record."""
    return predictions.as_dict(row, catalog.IMAGE_FILE_COLUMNS)


def change(row, previous, export_id):
    """NEW, CHANGED, RESCORED (same item, new model: `export_id` is the model's) or UNCHANGED, for a current row
    and its previous record."""
    if previous is None or previous.status == REMOVED:
        return NEW
    if previous.fingerprint != fingerprint_of(row):
        return CHANGED
    if previous.model_version != export_id:
        return RESCORED
    return UNCHANGED


def with_status(previous, status, run_id):
    """The previous record carried over with `status`, marked updated in this run when the status changed."""
    return previous if previous.status == status else previous._replace(status=status, updated_in_run=run_id)


def catalog_record(record, run_id):
    """A freshly scored Prediction as a CatalogRecord of the published catalog."""
    shared = (*predictions.PREDICTION_COLUMNS, *predictions.REVIEW_COLUMNS, *catalog.IMAGE_FILE_COLUMNS)
    return CatalogRecord(**predictions.as_dict(record, shared), fingerprint=fingerprint_of(record), status=ACTIVE,
                         scored_in_run=run_id, updated_in_run=run_id)

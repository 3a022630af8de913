"""Reviewers' decisions on a flagged attribute (gender, baseColour, usage: rules/attributes.FLAGGED), and how they
flow on: into the nightly's `reviewed_<c>` columns, and as rows of an `attribute_overrides.csv` that prepare
applies before training. They are kept in SQLite beside the type's decisions (storage/reviews.py).

An attribute is decided apart from the item's type: accept writes the predicted value, keep confirms the given one.
A decision holds the fingerprint of what the reviewer saw of that attribute (the given value, the display name, the
image's content hash), so it settles the attribute only while those are unchanged; a type decision that relabels
the item leaves it standing.
"""
import csv
import dataclasses
import hashlib
import io
import json

from pipelines.errors import UserError
from pipelines.rules import attributes, catalog, overrides

ACCEPT, KEEP = 'accept', 'keep'
DECISIONS = (ACCEPT, KEEP)
COLUMNS = ('id', 'attribute', 'value', 'decision', 'decided_by', 'decided_at', 'fingerprint')
APPLIED, STALE, IGNORED = 'applied', 'stale', 'ignored'
UNKNOWN_ID, FINGERPRINT_CHANGED = 'unknown_id', 'fingerprint_changed'


@dataclasses.dataclass(frozen=True)
class AttributeDecision:
    """One reviewer's decision on one flagged attribute of one item: `value` is the attribute's value after it (the
    predicted one for accept, the given one for keep)."""
    id: str
    attribute: str
    decision: str
    value: str
    given_value: str
    predicted_value: str
    flagged: bool
    decided_by: str
    decided_at: str
    model_version: str
    catalog_version: str
    fingerprint: str


def fingerprint(attribute, given_value, display_name, content_hash):
    """What, when it changes, reopens a decided attribute: its given value, the item's name and its image bytes."""
    return hashlib.sha256(json.dumps([attribute, given_value or '', display_name, content_hash]).encode('utf-8')
                          ).hexdigest()


def fingerprint_of(item, attribute):
    """The fingerprint of one attribute of a record or row (anything with the catalog's columns as attributes)."""
    return fingerprint(attribute, getattr(item, attribute), item.productDisplayName, item.content_hash)


def fingerprint_of_record(record, attribute):
    """The fingerprint of one attribute of a published record (a dict, as the review app reads it)."""
    return fingerprint(attribute, record.get(attribute), record['productDisplayName'], record['content_hash'])


def open_flags(record, latest):
    """The flagged attributes of a published record (a dict) that no decision in `latest` ({(id, attribute):
    AttributeDecision}) settles as the item is now."""
    found = []
    for attribute in attributes.FLAGGED:
        if not record.get(f'disagrees_{attributes.COLUMN[attribute]}'):
            continue
        decision = latest.get((record['id'], attribute))
        if decision is None or decision.fingerprint != fingerprint_of_record(record, attribute):
            found.append(attribute)
    return found


def reviewed(record, decisions):
    """A scored record (Prediction or CatalogRecord, its review columns cleared) with each attribute that one of
    `decisions` (the item's AttributeDecisions) settles as it is now: the reviewed value, and no flag."""
    changed = {}
    for decision in decisions:
        if decision.fingerprint == fingerprint_of(record, decision.attribute):
            changed[attributes.reviewed_column(decision.attribute)] = decision.value
            changed[f'disagrees_{attributes.COLUMN[decision.attribute]}'] = False
    return record._replace(**changed) if changed else record


def override_rows(latest):
    """The attribute_overrides.csv rows of the latest decision per (id, attribute), by id."""
    return [{name: getattr(d, name) for name in COLUMNS}
            for (_, _), d in sorted(latest.items(), key=lambda kv: (int(kv[0][0]), kv[0][1]))]


def to_csv(rows):
    return overrides.to_csv(rows, COLUMNS)


def parse(text, source):
    """{(id, attribute): row} of an attribute_overrides.csv's text; UserError, naming `source`, when it is not one.
    Each row is one line (prepare reads it line by line in its pipeline) and each (id, attribute) appears once."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise UserError(f'--attribute-overrides {source!r} is not an attribute_overrides.csv: missing column(s) '
                        f'{", ".join(missing)}')
    rows = list(reader)
    bad = [r['id'] for r in rows if not catalog.is_valid_id(r['id']) or r['decision'] not in DECISIONS
           or r['attribute'] not in attributes.FLAGGED or attributes.is_missing(r['value'])
           or any('\n' in v or '\r' in v for v in r.values() if isinstance(v, str))]
    if bad:
        raise UserError(f'--attribute-overrides {source!r}: rows with an invalid id, attribute, decision or value, '
                        f'or a value over two lines: {", ".join(bad[:5])}')
    by_key = {(r['id'], r['attribute']): r for r in rows}
    if len(by_key) < len(rows):
        raise UserError(f'--attribute-overrides {source!r}: {len(rows) - len(by_key)} (id, attribute) pair(s) listed '
                        'more than once')
    return by_key


def outcome(override, status, reason=None):
    return {'id': override['id'], 'attribute': override['attribute'], 'outcome': status, 'reason': reason,
            'decision': override['decision'], 'decided_by': override['decided_by'],
            'decided_at': override['decided_at']}


def apply(row, found, content_hash):
    """(the CatalogRow with the value of each override in `found` whose fingerprint still matches, [one outcome
    record per override])."""
    changed, outcomes = {}, []
    for override in found:
        attribute = override['attribute']
        if fingerprint(attribute, getattr(row, attribute), row.productDisplayName, content_hash) != override[
                'fingerprint']:
            outcomes.append(outcome(override, STALE, FINGERPRINT_CHANGED))
            continue
        changed[attribute] = override['value']
        outcomes.append(outcome(override, APPLIED))
    return (row._replace(**changed) if changed else row), outcomes

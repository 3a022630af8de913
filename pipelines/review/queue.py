"""What a reviewer sees: the current published nightly version's flagged and to-review items, beside an audit's
issues when one is given, minus those already settled, most suspicious first; and the labels a decision may
set."""
import collections
import dataclasses
import io
import threading
import typing

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.rules import attribute_reviews, attributes as attributes_lib, catalog, changes, decisions, leaves, slices
from pipelines.storage import files, reviews, state
from pipelines.rules.predictions import TOP_K
from pipelines.rules.relabel import Relabeler
from pipelines.rules.taxonomy import UNKNOWN, Taxonomy

PAGE_SIZE = 24


@dataclasses.dataclass(frozen=True)
class PublishedRun:
    """The published nightly run under review: its run id, its reviewable records by id (`reviewable`, with the
    audit's issues marked, when an audit is given), its taxonomy, how many of the audit's issues are queued or
    stale, and the model's attribute values."""
    run_id: str
    records: dict
    taxonomy: Taxonomy
    catalog_dir: str
    audit: dict = dataclasses.field(default_factory=dict)
    attributes: typing.Optional[attributes_lib.Attributes] = None  # the model's attribute values, where it has heads

    @property
    def model_version(self):
        return next(iter(self.records.values()))['model_version'] if self.records else ''


def load_audit_issues(audit_dir):
    """{id: audit row} of a published audit's issues (jobs/audit.py)."""
    if not files.exists(audit_dir, artifacts.SUMMARY):
        raise UserError(f'{audit_dir!r} is not a published audit: no {artifacts.SUMMARY}')
    table = pq.read_table(io.BytesIO(files.read_bytes(FileSystems.join(audit_dir, artifacts.AUDIT_PARQUET))))
    return {row['id']: row for row in table.to_pylist() if row['issue']}


def fingerprint(record):
    """A published record's fingerprint as it is now (changes.fingerprint), from its columns."""
    return changes.fingerprint(catalog.labels_of(record), record['productDisplayName'], record['content_hash'])


def _known(article_type):
    """An audit's suggested leaf as an articleType a reviewer can accept (an other leaf is none)."""
    return None if article_type is None or article_type.startswith(leaves.OTHER) else article_type


def with_audit(records, issues):
    """(records with each audit issue marked, {queued, stale}). An issue is stale, and left out, when its item is
    no longer active or its labels or image changed since the audit. An issue the nightly model did not flag
    shows the audit's suggestion as the prediction, so that a reviewer can accept it."""
    marked, stale = dict(records), 0
    for item_id, issue in issues.items():
        record = records.get(item_id)
        if (record is None or record['status'] != changes.ACTIVE or record['given_class'] != issue['given_class']
                or record['articleType'] != issue['given_type'] or record['content_hash'] != issue['content_hash']):
            stale += 1
            continue
        audit = {'audit_issue': True, 'audit_rank': issue['rank'], 'audit_label_quality': issue['label_quality'],
                 'audit_evidence': issue['evidence']}
        if not (record['disagrees'] or record.get('disagrees_type')):
            audit.update(predicted_class=issue['suggested_class'], confidence=issue['suggested_probability'],
                         predicted_type=_known(issue['suggested_type']), type_confidence=issue['suggested_probability'],
                         evidence=issue['evidence'],
                         **{f'top{k}_type': _known(issue[f'top{k}_type']) for k in range(1, TOP_K + 1)})
        marked[item_id] = dict(record, **audit)
    return marked, {'queued': len(issues) - stale, 'stale': stale}


# The columns that put a published record in the queue (`queue`): any of them true.
QUEUE_FLAGS = ('disagrees', 'disagrees_type', 'needs_review',
               *(f'disagrees_{attributes_lib.COLUMN[a]}' for a in attributes_lib.FLAGGED))


def reviewable(table, also_ids=()):
    """The rows of a published catalog's table that a reviewer can decide: active items that are flagged, need
    review or came unlabelled (a label the model filled in with confidence may still be set by hand), and the items
    `also_ids` (an audit's issues). A night of a million items holds a few thousand of them; the app keeps those
    alone in memory, not a Python dict per item."""
    wanted = pc.or_(pc.is_in(table['id'], value_set=pa.array(sorted(also_ids), pa.string())),
                    pc.fill_null(pc.equal(table['given_class'], UNKNOWN), False))
    for column in QUEUE_FLAGS:
        if column in table.column_names:
            wanted = pc.or_(wanted, pc.fill_null(table[column], False))
    return table.filter(pc.and_(pc.equal(table['status'], changes.ACTIVE), wanted))


def load_published_run(state_dir, catalog_dir=None, audit_dir=None):
    """The run STATE/CURRENT names, its reviewable records only (`reviewable`), with `audit_dir`'s issues marked
    (with_audit); `catalog_dir` defaults to the catalog the run recorded."""
    run_id = state.current_run(state_dir)
    if run_id is None:
        raise UserError(f'{state_dir!r} has no published nightly version (no {artifacts.CURRENT})')
    run_dir = state.run_path(state_dir, run_id)
    summary = files.read_json(FileSystems.join(run_dir, artifacts.SUMMARY))
    pattern = FileSystems.join(run_dir, f'{artifacts.CATALOG}-*.parquet')
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    issues = load_audit_issues(audit_dir) if audit_dir else {}
    records = {}
    for path in paths:
        for record in reviewable(pq.read_table(io.BytesIO(files.read_bytes(path))), issues).to_pylist():
            records[record['id']] = record
    model_taxonomy = FileSystems.join(summary['model_path'], artifacts.ASSETS_EXTRA, artifacts.TAXONOMY)
    taxonomy = Taxonomy.from_dict(files.read_json(model_taxonomy))
    model_attributes = FileSystems.join(summary['model_path'], artifacts.ASSETS_EXTRA, artifacts.ATTRIBUTES)
    known = (attributes_lib.Attributes.from_json(files.read_text(model_attributes))
             if FileSystems.exists(model_attributes) else None)
    audit = {}
    if audit_dir:
        records, audit = with_audit(records, issues)
    return PublishedRun(run_id, records, taxonomy, catalog_dir or summary['catalog'], audit, known)


class LatestRun:
    """The published run to review, reloaded when STATE/CURRENT names a newer one, so that a page served after a
    nightly run published shows the new version without restarting the app. Calling it is one small read."""

    def __init__(self, state_dir, catalog_dir=None, loaded=None, audit_dir=None):
        """`loaded`: the run already loaded from STATE/CURRENT, if the caller has it."""
        self._state_dir, self._catalog_dir, self._audit_dir = state_dir, catalog_dir, audit_dir
        self._lock = threading.Lock()
        self._run = loaded or load_published_run(state_dir, catalog_dir, audit_dir)

    def __call__(self):
        current = state.current_run(self._state_dir)
        with self._lock:
            if current is not None and current != self._run.run_id:
                self._run = load_published_run(self._state_dir, self._catalog_dir, self._audit_dir)
            return self._run


def article_choices(taxonomy):
    """{articleType: (masterCategory, subCategory, class)}: each article type of the taxonomy with its most
    common master and sub category, so a reviewer picks one name and the row gets all three columns."""
    counts = collections.defaultdict(collections.Counter)
    for master, sub, article, n in taxonomy.combo_counts:
        counts[article][(master, sub)] += n
    choices = {}
    for article, combos in sorted(counts.items()):
        master, sub = combos.most_common(1)[0][0]
        placement = taxonomy.class_of((master, sub, article), article)
        if placement.label is not None and placement.class_name in taxonomy.classes:
            choices[article] = (master, sub, placement.class_name)
    return choices


class TypeChooser:
    """What "accept the prediction" may preselect as the articleType of an item: per class, its types and a
    TF-IDF matcher of display names over them (the Free Items relabel's, rules/relabel.py)."""

    def __init__(self, taxonomy, choices):
        self.types = collections.defaultdict(list)
        for article, (_, _, class_name) in sorted(choices.items()):
            self.types[class_name].append(article)
        self._matchers = {name: Relabeler(types, {}, taxonomy.relabel_min_similarity)
                          for name, types in self.types.items() if len(types) > 1}

    def preselect(self, record):
        """(articleType or None, how) for accepting `record`'s prediction: a full-labels model's predicted
        articleType, else one the evidence settles within the predicted class (decisions.preselected_type)."""
        if record.get('predicted_type'):
            return record['predicted_type'], decisions.MODEL_TYPE
        types = self.types.get(record['predicted_class'], [])
        matcher = self._matchers.get(record['predicted_class'])
        name_match = matcher.match(record['productDisplayName'] or '')[0] if matcher else None
        return decisions.preselected_type(types, record['articleType'], name_match)


FLAG_KINDS = ('class', 'type', 'attribute')  # disagrees, disagrees_type, disagrees_<attribute>


def flagged_as(record, kinds=FLAG_KINDS):
    """Whether a record's type is flagged by one of `kinds`: the Class flag (and the audit's issues, queued with
    it whichever level they question), or the articleType flag, which many teams review apart (Tops against Tunics
    is often a taxonomy question)."""
    return (('class' in kinds and (record['disagrees'] or bool(record.get('audit_issue'))))
            or ('type' in kinds and bool(record.get('disagrees_type'))))


def queue(published, latest, given=None, predicted=None, reviewer=None, team=(), decided=frozenset(),
          kinds=FLAG_KINDS, attribute_latest=None):
    """The items to review: flagged disagreements and audit issues (lowest probability of the given class first,
    the nightly model's or the audit's, whichever is lower; articleType flags by the given type's), items with a
    flagged attribute that no decision in `attribute_latest` ({(id, attribute): AttributeDecision}) settles, then
    labels filled in with low confidence (lowest first); settled items are left out. `kinds` picks the flags shown.

    For a `reviewer` of a `team` (rules/slices.py), the items of their slice come first, and a shared item of
    their slice stays until they have decided it (`decided`: the ids they have), even once someone settled it."""
    flagged, unsure = [], []
    for record in published.records.values():
        if record['status'] != changes.ACTIVE:
            continue
        open_attributes = ('attribute' in kinds
                           and attribute_reviews.open_flags(record, attribute_latest or {}))
        settled = (decisions.settles(latest.get(record['id']), fingerprint(record))
                   and not slices.second_look(record['id'], reviewer, team, decided))
        if settled and not open_attributes:
            continue
        if (given and record['given_class'] != given) or (predicted and record['predicted_class'] != predicted):
            continue
        if open_attributes or (not settled and flagged_as(record, kinds)):
            flagged.append(record)
        elif record['needs_review']:
            unsure.append(record)
    flagged.sort(key=lambda r: (suspicion(r), int(r['id'])))
    unsure.sort(key=lambda r: (r['confidence'], int(r['id'])))
    return slices.own_first(flagged + unsure, reviewer, team) if reviewer else flagged + unsure


def suspicion(record):
    """A flagged item's place in the queue: the lower of the nightly model's and the audit's probability of the
    given class."""
    found = [p for p in (record['given_class_probability'], record.get('audit_label_quality'),
                         record.get('given_type_probability') if record.get('disagrees_type') else None)
             if p is not None and not np.isnan(p)]
    return min(found, default=1.0)


def page(items, number, size=PAGE_SIZE):
    """(the items of page `number`, counting from 1, and the number of pages)."""
    pages = max(1, -(-len(items) // size))
    number = min(max(1, number), pages)
    return items[(number - 1) * size:number * size], pages


def attribute_cards(record, attribute_latest, attribute_seqs):
    """What the page shows of a record's open attribute flags: given and predicted value, confidence, evidence,
    the attribute's fingerprint and the sequence number of its latest decision (for the stale-view rule)."""
    return [{'attribute': a, 'label': attributes_lib.COLUMN[a], 'given': record[a] or '',
             'predicted': record[f'predicted_{attributes_lib.COLUMN[a]}'],
             'confidence': record[f'{attributes_lib.COLUMN[a]}_confidence'],
             'evidence': record[f'{attributes_lib.COLUMN[a]}_evidence'],
             'seq': attribute_seqs.get((record['id'], a), 0),
             'fingerprint': attribute_reviews.fingerprint_of_record(record, a)}
            for a in attribute_reviews.open_flags(record, attribute_latest)]


def card(record, chooser, latest, attribute_latest=None, attribute_seqs=None):
    """What the page shows of one item."""
    decision = latest.get(record['id'])
    preselected, how = chooser.preselect(record)
    return {
        'id': record['id'], 'name': record['productDisplayName'],
        'given': ' / '.join(record[c] or '—' for c in catalog.LABEL_COLUMNS), 'given_class': record['given_class'],
        'given_article': record['articleType'], 'unlabelled': bool(catalog.empty_labels(catalog.labels_of(record))),
        'predicted_class': record['predicted_class'], 'confidence': record['confidence'],
        'given_class_probability': record['given_class_probability'], 'flagged': record['disagrees'],
        'audit_rank': record.get('audit_rank') if record.get('audit_issue') else None,
        'audit_evidence': record.get('audit_evidence') if record.get('audit_issue') else None,
        'top': [(record[f'top{k}_class'], record[f'top{k}_probability']) for k in range(1, TOP_K + 1)],
        'predicted_type': record.get('predicted_type'), 'type_confidence': record.get('type_confidence'),
        'type_flagged': bool(record.get('disagrees_type')), 'evidence': record.get('evidence'),
        'top_types': [record[f'top{k}_type'] for k in range(1, TOP_K + 1) if record.get(f'top{k}_type')],
        'accept_choices': ([preselected] if how == decisions.MODEL_TYPE
                           else chooser.types.get(record['predicted_class'], [])),
        'accept_preselected': preselected, 'accept_how': how,
        'not_sure_by': decision.decided_by if decision and decision.decision == decisions.NOT_SURE else None,
        'attributes': attribute_cards(record, attribute_latest or {}, attribute_seqs or {}),
    }


def _record_and_reviewer(published, item_id, reviewer):
    """(the record of `item_id` in the `published` run, the reviewer's name); ValueError when either is not one."""
    if not catalog.is_valid_id(item_id) or item_id not in published.records:
        raise ValueError(f'no item {item_id!r} in run {published.run_id}')
    reviewer = (reviewer or '').strip()
    if not reviewer or len(reviewer) > 80:
        raise ValueError('a reviewer name (1-80 characters) is required')
    return published.records[item_id], reviewer


def decision_for(published, choices, chooser, item_id, decision, article, reviewer):
    """A Decision for `item_id` in the `published` run; ValueError with the reason when the request cannot be one.
    An accepted articleType is recorded as chosen by the evidence that preselected it, else by the reviewer."""
    record, reviewer = _record_and_reviewer(published, item_id, reviewer)
    if decision not in decisions.DECISIONS:
        raise ValueError(f'unknown decision {decision!r}')
    labels, chosen_by = {name: '' for name in catalog.LABEL_COLUMNS}, ''
    if decision == decisions.ACCEPT and not article:
        raise ValueError(f'choose the articleType within {record["predicted_class"]} to accept it')
    if decision in (decisions.ACCEPT, decisions.RELABEL):
        if article not in choices:
            raise ValueError(f'{article!r} is not an articleType of the taxonomy')
        master, sub, class_name = choices[article]
        preselected, how = chooser.preselect(record) if decision == decisions.ACCEPT else (None, None)
        if how == decisions.MODEL_TYPE and article != preselected:
            raise ValueError(f'accept writes the predicted articleType {preselected!r}: relabel to choose another')
        if decision == decisions.ACCEPT and how != decisions.MODEL_TYPE and class_name != record['predicted_class']:
            raise ValueError(f'{article!r} is not in the predicted class {record["predicted_class"]}')
        labels = dict(zip(catalog.LABEL_COLUMNS, (master, sub, article)))
        chosen_by = how if article == preselected else decisions.REVIEWER
    elif decision == decisions.KEEP:
        if catalog.empty_labels(catalog.labels_of(record)):
            raise ValueError('the item has no given labels to keep')
        labels, chosen_by = {name: record[name] for name in catalog.LABEL_COLUMNS}, decisions.GIVEN_TYPE
    return decisions.Decision(
        id=item_id, decision=decision, **labels, given_class=record['given_class'],
        predicted_class=record['predicted_class'], flagged=bool(record['disagrees']), decided_by=reviewer,
        decided_at=reviews.now(), model_version=record['model_version'], catalog_version=published.run_id,
        fingerprint=fingerprint(record), article_chosen_by=chosen_by)


def attribute_decision_for(published, item_id, attribute, decision, reviewer):
    """An AttributeDecision on a flagged attribute of `item_id` in the `published` run; ValueError with the reason
    when the request cannot be one. Accept writes the predicted value, keep the given one."""
    record, reviewer = _record_and_reviewer(published, item_id, reviewer)
    if attribute not in attributes_lib.FLAGGED:
        raise ValueError(f'{attribute!r} is not an attribute that is reviewed ({", ".join(attributes_lib.FLAGGED)})')
    if decision not in attribute_reviews.DECISIONS:
        raise ValueError(f'unknown decision {decision!r} on an attribute')
    column = attributes_lib.COLUMN[attribute]
    given, predicted = record.get(attribute) or '', record.get(f'predicted_{column}') or ''
    value = predicted if decision == attribute_reviews.ACCEPT else given
    if attributes_lib.is_missing(value):
        raise ValueError(f'item {item_id} has no {"predicted" if decision == attribute_reviews.ACCEPT else "given"} '
                         f'{column} to {decision}')
    return attribute_reviews.AttributeDecision(
        id=item_id, attribute=attribute, decision=decision, value=value, given_value=given, predicted_value=predicted,
        flagged=bool(record.get(f'disagrees_{column}')), decided_by=reviewer, decided_at=reviews.now(),
        model_version=record['model_version'], catalog_version=published.run_id,
        fingerprint=attribute_reviews.fingerprint_of_record(record, attribute))

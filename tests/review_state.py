"""A published nightly version made by hand, for the review app's tests: which items are flagged or need
review, with which probabilities, is chosen here rather than left to a model."""
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import artifacts
from pipelines.jobs import synth
from pipelines.rules import attributes, catalog, changes, images, predictions, taxonomy as taxonomy_lib
from pipelines.storage import state

RUN_ID = '20261129T000000Z-test'
MODEL_VERSION = '1700000000'


def _types_by_class(taxonomy):
    from pipelines.review import queue  # pylint: disable=import-outside-toplevel
    by_class = {}
    for article, (_, _, class_name) in sorted(queue.article_choices(taxonomy).items()):
        by_class.setdefault(class_name, []).append(article)
    return by_class


GENDER_SWAP = {'Men': 'Women', 'Women': 'Men', 'Boys': 'Girls', 'Girls': 'Boys', 'Unisex': 'Women'}


def _with_attributes(record, row, flagged):
    """A record's attribute columns as a model with attribute heads publishes them: each predicted as given, but
    a `flagged` item's gender, predicted swapped with the name as evidence."""
    for attribute in attributes.ATTRIBUTES:
        column = attributes.COLUMN[attribute]
        record.update({f'predicted_{column}': row[attribute] or None, f'{column}_confidence': 0.95,
                       f'{column}_filled': False})
        if attribute in attributes.FLAGGED:
            record.update({f'disagrees_{column}': False, f'{column}_evidence': None})
    if flagged and row['gender'] in GENDER_SWAP:
        record.update(predicted_gender=GENDER_SWAP[row['gender']], gender_confidence=0.98, disagrees_gender=True,
                      gender_evidence='name')


def write(root, rows=100, seed=3, full_labels=False, with_attributes=False):
    """Writes root/catalog, root/model/export/<version> (its taxonomy only) and root/state with one version.

    Of the catalog's items with a known class: every third is flagged (given_class_probability falling with
    the id), every third after that needs review (an unlabelled item among them), the rest are plain. With
    `full_labels` the records are a full-labels model's: each predicts the last articleType of its predicted
    Class (so a Class with several types predicts one that is not its first), with the others as runners-up. With
    `with_attributes` the model has attribute heads (its attributes.json), and every other plain item's gender is
    flagged.
    Returns (state dir, catalog dir, {id: record})."""
    catalog_dir, state_dir = os.path.join(root, 'catalog'), os.path.join(root, 'state')
    styles, jpegs = synth.generate(rows, seed=seed)
    styles = [r for r in styles if r['id'] in jpegs]
    styles[1] = dict(styles[1], articleType='')
    synth.write_catalog(catalog_dir, styles, jpegs)
    taxonomy = taxonomy_lib.load()
    export = os.path.join(root, 'model', 'export', MODEL_VERSION)
    os.makedirs(os.path.join(export, artifacts.ASSETS_EXTRA))
    with open(os.path.join(export, artifacts.ASSETS_EXTRA, artifacts.TAXONOMY), 'w', encoding='utf-8') as f:
        f.write(taxonomy.to_json())
    if with_attributes:
        counts = {a: {r[a]: attributes.MIN_TRAIN_ITEMS for r in styles} for a in attributes.ATTRIBUTES}
        known = attributes.fit(counts, attributes.load_groups())
        with open(os.path.join(export, artifacts.ASSETS_EXTRA, artifacts.ATTRIBUTES), 'w', encoding='utf-8') as f:
            f.write(known.to_json())
    records = {}
    classes = sorted(taxonomy.classes)
    types_by_class = _types_by_class(taxonomy)
    from pipelines.review import queue  # pylint: disable=import-outside-toplevel
    queue_choices = queue.article_choices(taxonomy)
    for n, row in enumerate(styles):
        given = taxonomy.class_of(catalog.labels_of(row), row['productDisplayName']).class_name
        kind = 'review' if n == 1 else ('flagged', 'review', 'plain')[n % 3]
        predicted = (classes[(classes.index(given) + 1) % len(classes)] if given in classes and kind == 'flagged'
                     else given if given in classes else classes[n % len(classes)])
        confidence = 0.5 + (n % 7) / 20 if kind == 'review' else 0.97
        record = {name: row[name] for name in ('id', 'productDisplayName', 'masterCategory', 'subCategory',
                                               'articleType', *attributes.ATTRIBUTES)}
        record.update(given_class=given, predicted_class=predicted, confidence=confidence,
                      given_class_probability=(None if given not in classes else
                                               0.001 / (1 + n) if kind == 'flagged' else 0.9),
                      top1_class=predicted, top1_probability=confidence, top2_class=classes[0],
                      top2_probability=0.02, top3_class=classes[1], top3_probability=0.01,
                      disagrees=kind == 'flagged' and given in classes,
                      needs_review=kind == 'review' and given == 'Unknown',
                      model_version=MODEL_VERSION, taxonomy_version=taxonomy.rules_hash,
                      content_hash=images.content_hash(jpegs[row['id']]))
        if kind == 'review' and given != 'Unknown':
            record.update(given_class='Unknown', given_class_probability=None, needs_review=True)
        record.update(dict.fromkeys(predictions.FULL_LABEL_COLUMNS))
        if full_labels:
            types = types_by_class[predicted]
            choice = queue_choices[types[-1]]
            record.update(predicted_master=choice[0], predicted_sub=choice[1], predicted_type=types[-1],
                          master_confidence=confidence, sub_confidence=confidence, type_confidence=confidence,
                          type_known=bool(row['articleType']), disagrees_type=False,
                          evidence='both' if record['disagrees'] else None)
            for k, article in enumerate([types[-1], *types[:-1]][:3], start=1):
                record[f'top{k}_type'], record[f'top{k}_type_probability'] = article, confidence / k
        if with_attributes:
            _with_attributes(record, row, kind == 'plain' and n % 2 == 0)
        record.update(fingerprint=changes.fingerprint(catalog.labels_of(record), record['productDisplayName'],
                                                      record['content_hash']),
                      status=changes.ACTIVE, scored_in_run=RUN_ID, updated_in_run=RUN_ID,
                      **dict.fromkeys(predictions.REVIEW_COLUMNS))
        records[record['id']] = record
    run_dir = state.run_path(state_dir, RUN_ID)
    os.makedirs(run_dir)
    pq.write_table(pa.Table.from_pylist(list(records.values()), predictions.parquet_schema(changes.CATALOG_COLUMNS)),
                   os.path.join(run_dir, f'{artifacts.CATALOG}-00000-of-00001.parquet'))
    with open(os.path.join(run_dir, artifacts.SUMMARY), 'w', encoding='utf-8') as f:
        json.dump({'model_path': export, 'catalog': catalog_dir, 'run_id': RUN_ID}, f)
    state.set_current(state_dir, RUN_ID)
    return state_dir, catalog_dir, records


SUGGESTED_TYPES = {'Shoes': ('Footwear', 'Shoes', 'Casual Shoes'), 'Watches': ('Accessories', 'Watches', 'Watches')}


def suggested_type(class_name):
    """(master, sub, articleType) the hand-made audit suggests for a Class (the Class's name as its type, else)."""
    return SUGGESTED_TYPES.get(class_name, ('', '', class_name))


def write_audit(root, issues):
    """A published audit folder (jobs/audit.py's layout) whose rows are `issues`: {id: (record it audits, label
    quality, suggested Class, issue?)}; the suggested articleType is suggested_type's. Returns its path."""
    from pipelines.rules import audit  # pylint: disable=import-outside-toplevel
    folder = os.path.join(root, 'audit')
    os.makedirs(folder)
    rows = []
    for rank, (item_id, (record, probability, suggested, issue)) in enumerate(sorted(
            issues.items(), key=lambda kv: kv[1][1]), start=1):
        master, sub, article = suggested_type(suggested)
        row = {column: None for column in audit.AUDIT_COLUMNS}
        row.update({'id': item_id, 'given_master': record['masterCategory'], 'given_sub': record['subCategory'],
                    'given_type': record['articleType'], 'given_class': record['given_class'],
                    'name': record['productDisplayName'], 'split': 'train', 'fold': 0, 'rank': rank, 'issue': issue,
                    'evidence': 'image' if issue else None, 'suggested_master': master, 'suggested_sub': sub,
                    'suggested_type': article, 'suggested_class': suggested, 'suggested_probability': 0.9,
                    'given_probability': probability, 'image_given_probability': probability,
                    'name_given_probability': 0.5, 'image_suggests': article, 'name_suggests': record['articleType'],
                    'label_quality': probability, 'top1_type': article, 'top1_probability': 0.9,
                    'top2_type': record['articleType'], 'top2_probability': probability, 'top3_type': 'Watches',
                    'top3_probability': 0.01, 'cleanlab_issue': issue, 'threshold_issue': issue, 'type_known': True,
                    'group': record['content_hash'], 'content_hash': record['content_hash']})
        row.update({f'quality_{r}': probability for r in audit.RANKINGS})
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows), os.path.join(folder, artifacts.AUDIT_PARQUET))
    assert tuple(rows[0]) == audit.AUDIT_COLUMNS
    with open(os.path.join(folder, artifacts.SUMMARY), 'w', encoding='utf-8') as f:
        json.dump({'issues': sum(1 for row in rows if row['issue'])}, f)
    return folder

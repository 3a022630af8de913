"""Interop with Label Studio: the review queue as import tasks with the prediction as a pre-annotation, and a
Label Studio JSON export read back as decisions.

Formats (Label Studio's "Basic Label Studio JSON" for import, https://labelstud.io/guide/predictions, and
its JSON export of annotated tasks, https://labelstud.io/guide/task_format): a task is
`{"data": {...}, "predictions": [{"model_version", "score", "result": [...]}]}`; an export adds
`"annotations": [{"result": [...], "was_cancelled", "completed_by", "created_at", "updated_at"}]`. A result
for a single-choice control is `{"from_name": "articleType", "to_name": "image", "type": "choices",
"value": {"choices": ["Tshirts"]}}`, so the labeling config (written beside the tasks) names a Choices
control `articleType` over an Image `image`. Each task carries what the reviewer will see decided against:
the item's fingerprint, model and catalog published, so a decision on an item that changed since is stale, and
the number of the item's latest decision when the task was made (`seen`), so that an annotation made on a view
older than a later decision is left out, as the web app refuses it.

A model with attribute heads adds a Choices control per flagged attribute (`gender`, `baseColour`, `usage`) over
the model's values. A task whose attribute is flagged carries its given and predicted value, fingerprint and
`seen`, and the predicted value as a pre-annotation; the value chosen is read back as that attribute's accept
(the predicted value) or keep (the given one), apart from the type's decision.
"""
import base64
import html
import json
import typing
import xml.etree.ElementTree as ElementTree

from pipelines.review import queue as review_queue
from pipelines.rules import attribute_reviews, attributes, catalog, decisions
from pipelines.storage import files, reviews

CONTROL, OBJECT = 'articleType', 'image'


def _choices(values):
    return ''.join(f'    <Choice value="{html.escape(v, quote=True)}"/>\n' for v in values)


def label_config(articles, known_attributes=None):
    """The labeling config the tasks need: the image, the item's text, one choice per articleType; and, for a model
    with attribute heads (`known_attributes`, rules/attributes.Attributes), one control per flagged attribute over
    its values."""
    values = {a: [v for v in known_attributes.values[a] if v != attributes.OTHER] for a in attributes.FLAGGED
              if known_attributes and a in known_attributes.values}
    controls = ''.join(
        f'  <Header value="{attributes.COLUMN[a]}, if flagged"/>\n  <Choices name="{a}" toName="{OBJECT}" '
        f'choice="single" showInline="true">\n{_choices(v)}  </Choices>\n' for a, v in values.items())
    return (f'<View>\n  <Image name="{OBJECT}" value="$image"/>\n  <Text name="name" value="$name"/>\n'
            f'  <Text name="given" value="$given"/>\n  <Choices name="{CONTROL}" toName="{OBJECT}" choice="single" '
            f'showInline="false">\n{_choices(articles)}  </Choices>\n{controls}</View>\n')


def _parts(config):
    """A labeling config's elements as '<Tag name="value" ...>' strings, but for the articleType choices; and those
    choices."""
    root = ElementTree.fromstring(config)
    control = next((e for e in root.iter() if e.get('name') == CONTROL), None)
    choices = [] if control is None else [c for c in control if c.tag == 'Choice']
    elements = ['<' + ' '.join([e.tag, *(f'{k}="{v}"' for k, v in sorted(e.attrib.items()))]) + '>'
                for e in root.iter() if not any(e is c for c in choices)]
    return elements, [c.get('value') for c in choices]


def config_difference(current, wanted):
    """How a project's labeling config `current` stands to `wanted` (label_config's): (None, []) when they are the
    same; (None, the articleTypes only `wanted` has) when `wanted` only adds articleTypes; (a line saying what
    differs, []) otherwise."""
    try:
        (current_elements, current_choices), (wanted_elements, wanted_choices) = _parts(current), _parts(wanted)
    except ElementTree.ParseError as e:
        return f"the project's labeling config is not XML ({e})", []
    if current_elements != wanted_elements:
        there = ' '.join(e for e in current_elements if e not in wanted_elements) or 'its elements in another order'
        here = ' '.join(e for e in wanted_elements if e not in current_elements) or 'nothing more'
        return f'its labeling config differs beyond the articleTypes: it has {there}, ours {here}', []
    dropped = sorted(set(current_choices) - set(wanted_choices))
    if dropped:
        return f'its labeling config has articleTypes the taxonomy does not: {", ".join(dropped[:10])}', []
    return None, sorted(set(wanted_choices) - set(current_choices))


def _data_uri(catalog_dir, item_id):
    data = files.read_bytes(catalog.image_path(catalog_dir, item_id))
    return 'data:image/jpeg;base64,' + base64.b64encode(data).decode('ascii')


def _attribute_data(card):
    """A task's data on its card's open attribute flags: given and predicted value, fingerprint and `seen`."""
    data = {}
    for flagged in card.get('attributes', ()):
        column = attributes.COLUMN[flagged['attribute']]
        data.update({f'given_{column}': flagged['given'], f'predicted_{column}': flagged['predicted'],
                     f'{column}_fingerprint': flagged['fingerprint'], f'{column}_seen': flagged['seq']})
    return data


def _choice_result(control, value):
    return {'from_name': control, 'to_name': OBJECT, 'type': 'choices', 'value': {'choices': [value]}}


def tasks(published, items, cards, seen, image_paths=False):
    """Import tasks for queue `items` (records) with their `cards`: the image as a data URI (or its path),
    the articleType that accepting the prediction would preselect (queue.TypeChooser: a full-labels model's
    predicted articleType, scored by its calibrated confidence; else one the evidence picks in the predicted
    Class, scored by the Class's; none when nothing picks one) as the pre-annotation. `seen` ({id: the sequence
    number of its latest decision}, storage/reviews.latest_seq) goes into each task, for the stale-view rule."""
    out = []
    for record, card in zip(items, cards):
        image = (catalog.image_path(published.catalog_dir, record['id']) if image_paths
                 else _data_uri(published.catalog_dir, record['id']))
        out.append({
            'data': {'image': image, 'item_id': record['id'], 'name': record['productDisplayName'],
                     'given': card['given'], 'given_class': record['given_class'],
                     'predicted_class': record['predicted_class'],
                     'predicted_type': record.get('predicted_type') or '', 'fingerprint': record['fingerprint'],
                     'model_version': record['model_version'], 'catalog_version': published.run_id,
                     'flagged': bool(record['disagrees']), 'seen': seen.get(record['id'], 0),
                     **_attribute_data(card)},
            'predictions': [{'model_version': record['model_version'],
                             'score': (record['type_confidence'] if card['accept_how'] == decisions.MODEL_TYPE
                                       else record['confidence']),
                             'result': ([_choice_result(CONTROL, card['accept_preselected'])]
                                        if card['accept_preselected'] else [])
                             + [_choice_result(a['attribute'], a['predicted']) for a in card.get('attributes', ())]}],
        })
    return out


def queued_tasks(published, db, choices, image_paths=False):
    """Tasks for the review queue as the web app shows it now (queue.queue over the decisions in `db`)."""
    latest = reviews.latest(db)
    with reviews.connect(db) as connection:
        attribute_latest, attribute_seqs = reviews.latest_attributes_of(connection)
    items = review_queue.queue(published, latest, attribute_latest=attribute_latest)
    chooser = review_queue.TypeChooser(published.taxonomy, choices)
    return tasks(published, items, [review_queue.card(r, chooser, latest, attribute_latest, attribute_seqs)
                                    for r in items], reviews.latest_seq(db), image_paths)


def write_tasks(path, task_list, articles, known_attributes=None):
    """The tasks JSON at `path` and its labeling config at `path` + '.label_config.xml'."""
    files.write_text(path, json.dumps(task_list, indent=1))
    files.write_text(path + '.label_config.xml', label_config(articles, known_attributes))


def _annotator(annotation):
    who = annotation.get('completed_by')
    if isinstance(who, dict):
        who = who.get('email') or who.get('id')
    return f'label-studio:{who}' if who is not None else 'label-studio'


def _choice(annotation, control=CONTROL):
    for result in annotation.get('result') or ():
        if result.get('from_name') == control and result.get('type') == 'choices':
            picked = (result.get('value') or {}).get('choices') or []
            if picked:
                return picked[0]
    return None


class Taken(typing.NamedTuple):
    """A decision (the type's Decision or an AttributeDecision) read from a task's annotation, and the latest
    decision number of the item (or of its attribute) when the task was pushed (its `seen`: what the reviewer saw,
    for the stale-view rule; None for a task made before it was recorded)."""
    decision: typing.Union[decisions.Decision, attribute_reviews.AttributeDecision]
    seen: typing.Optional[int]


def read_export(path):
    """The tasks of a Label Studio JSON export file."""
    try:
        exported = json.loads(files.read_text(path))
    except (IOError, OSError, ValueError) as e:
        raise ValueError(f'{path!r} is not a Label Studio JSON export: {e}') from e
    if not isinstance(exported, list):
        raise ValueError(f'{path!r} is not a Label Studio JSON export (a list of tasks)')
    return exported


def decisions_from_export(exported, published, choices):
    """Decisions from Label Studio's JSON export of tasks: per task its latest annotation (a cancelled one, i.e.
    skipped, is `not_sure`). The chosen articleType decides: the given one is `keep`, the predicted one (a
    full-labels model's) or, for an image-only model's task, one in the predicted class `accept`, any other
    `relabel`. Each flagged attribute's choice is an AttributeDecision of its own (an annotation that chose only
    attributes decides nothing of the type). Returns (Taken decisions, problems: one line per task or choice not
    taken, the number of tasks nobody annotated yet)."""
    taken, problems, unannotated = [], [], 0
    for task in exported:
        data = task.get('data') or {}
        item_id = str(data.get('item_id', ''))
        annotations = sorted(task.get('annotations') or [],
                             key=lambda a: a.get('updated_at') or a.get('created_at') or '')
        if not annotations:
            unannotated += 1
            continue
        if not catalog.is_valid_id(item_id) or not data.get('fingerprint'):
            problems.append(f'task {task.get("id")}: no item_id or fingerprint in its data (not one of our tasks)')
            continue
        annotation = annotations[-1]
        article, predicted_type = _choice(annotation), data.get('predicted_type')
        given = str(data.get('given', '')).split(' / ')
        of_attributes = [] if annotation.get('was_cancelled') else _attribute_decisions(data, item_id, annotation,
                                                                                         problems)
        taken += of_attributes
        if article is None and any(_choice(annotation, a) for a in attributes.FLAGGED):
            continue  # only attributes were chosen
        if annotation.get('was_cancelled') or article is None:
            decision, labels = decisions.NOT_SURE, ('', '', '')
        elif article not in choices:
            problems.append(f'item {item_id}: {article!r} is not an articleType of the taxonomy')
            continue
        else:
            master, sub, class_name = choices[article]
            labels = (master, sub, article)
            accepted = article == predicted_type if predicted_type else class_name == data.get('predicted_class')
            decision = decisions.ACCEPT if accepted else decisions.RELABEL
            if len(given) == 3 and given[2] == article:
                decision, labels = decisions.KEEP, tuple(given)
        taken.append(Taken(decisions.Decision(
            id=item_id, decision=decision, **dict(zip(catalog.LABEL_COLUMNS, labels)),
            given_class=data.get('given_class', ''), predicted_class=data.get('predicted_class', ''),
            flagged=bool(data.get('flagged')), decided_by=_annotator(annotation),
            decided_at=annotation.get('updated_at') or annotation.get('created_at') or reviews.now(),
            model_version=str(data.get('model_version', '')),
            catalog_version=str(data.get('catalog_version', published.run_id)), fingerprint=data['fingerprint'],
            article_chosen_by=(decisions.GIVEN_TYPE if decision == decisions.KEEP else decisions.MODEL_TYPE
                               if decision == decisions.ACCEPT and predicted_type else decisions.REVIEWER)),
            data.get('seen')))
    return taken, problems, unannotated


def _attribute_decisions(data, item_id, annotation, problems):
    """Taken AttributeDecisions of an annotation's attribute choices, for the attributes flagged in its task: the
    predicted value is accept, the given one keep; another value is a line in `problems`."""
    taken = []
    for attribute in attributes.FLAGGED:
        column = attributes.COLUMN[attribute]
        value = _choice(annotation, attribute)
        if value is None or f'{column}_fingerprint' not in data:
            continue
        given, predicted = data.get(f'given_{column}', ''), data.get(f'predicted_{column}', '')
        if value not in (given, predicted):
            problems.append(f'item {item_id}: {column} {value!r} is neither the given {given!r} nor the predicted '
                            f'{predicted!r} (change it in the catalog)')
            continue
        taken.append(Taken(attribute_reviews.AttributeDecision(
            id=item_id, attribute=attribute,
            decision=attribute_reviews.ACCEPT if value == predicted else attribute_reviews.KEEP, value=value,
            given_value=given, predicted_value=predicted, flagged=True, decided_by=_annotator(annotation),
            decided_at=annotation.get('updated_at') or annotation.get('created_at') or reviews.now(),
            model_version=str(data.get('model_version', '')), catalog_version=str(data.get('catalog_version', '')),
            fingerprint=data[f'{column}_fingerprint']), data.get(f'{column}_seen')))
    return taken


class Recorded(typing.NamedTuple):
    """What record_taken did: decisions recorded, ones recorded before (the same annotation pulled again), and a
    line per stale one (the item was decided again after the task was pushed)."""
    recorded: int
    again: int
    stale: list


def record_taken(db, taken):
    """Records Taken decisions in the reviews database by the web app's rule (storage/reviews.record's `seen`): one
    made on a view older than the item's latest decision is stale and left out, unless that latest decision is
    this annotation itself, pulled before."""
    recorded, again, stale = 0, 0, []
    for decision, seen in taken:
        try:
            if isinstance(decision, attribute_reviews.AttributeDecision):
                reviews.record_attribute(db, decision, seen=seen)
            else:
                reviews.record(db, decision, seen=seen)
            recorded += 1
        except reviews.Stale as e:
            if (e.latest.decided_by, e.latest.decided_at, e.latest.decision) == (
                    decision.decided_by, decision.decided_at, decision.decision):
                again += 1
            else:
                stale.append(f'item {decision.id}: {decision.decided_by} decided on a view older than its latest '
                             f'decision ({e.latest.decision} by {e.latest.decided_by}); left out')
    return Recorded(recorded, again, stale)

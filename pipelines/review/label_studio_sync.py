"""The review queue kept in a running Label Studio project, and its annotations brought back as decisions.

One sync pulls, then pushes:
- pull: the project's annotated tasks (its JSON export) become decisions in the reviews database, by the web
  app's rules (label_studio.decisions_from_export and record_taken): the annotator's Label Studio email is the
  reviewer, and an annotation made on a view older than the item's latest decision is left out;
- push: the queue of the published nightly (flagged and filled-in items not settled, as the web app shows them)
  goes to the project as tasks with the model's prediction as a pre-annotation (score, model version), and the
  project's model version is set to the published one, which is what makes Label Studio show the pre-annotations.

The item-to-task mapping lives in Label Studio itself: each task's data holds its `item_id`, and a push reads the
project's tasks first. An item with a task is never imported again; its task is updated (data and prediction) when
what the reviewer would see changed (another fingerprint, model, published run, or a newer decision), so a second
push of the same night adds and changes nothing. Nothing is kept beside Label Studio that could drift from it.

Images travel in the task as data URIs (label_studio.tasks), as in the task files: the catalog's images are
thumbnails of a few kilobytes, a data URI needs no image server that the reviewers' browsers can reach and no
Label Studio storage to configure, and Label Studio keeps it with the task.
"""
import typing

from pipelines.errors import UserError
from pipelines.review import label_studio, queue as review_queue

IMPORT_BATCH = 200  # tasks per import request: each carries its image, a few kilobytes


class Synced(typing.NamedTuple):
    """What a sync did: the project, whether it was created and which articleTypes its config gained; the pull's
    Recorded and the tasks it could not take; the push's tasks added, updated and left as they were."""
    project_id: int
    created: bool
    added_types: list
    pulled: label_studio.Recorded
    skipped: list
    added: int
    updated: int
    unchanged: int

    def line(self, title):
        pulled = self.pulled
        return (f'Label Studio project {title!r} (id {self.project_id}{", created" if self.created else ""}'
                f'{f", {len(self.added_types)} articleTypes added" if self.added_types else ""}): pulled '
                f'{pulled.recorded} decisions ({len(pulled.stale)} stale, {pulled.again} pulled before, '
                f'{len(self.skipped)} tasks skipped); pushed {self.added} new tasks, updated {self.updated}, '
                f'{self.unchanged} unchanged')


def ensure_project(client, title, config, model_version):
    """(the project titled `title`, whether it was created, the articleTypes added to its config): created with
    `config` when missing; its config updated when `config` only adds articleTypes; UserError when it differs
    otherwise, or when several projects have the title."""
    found = client.projects(title)
    if len(found) > 1:
        raise UserError(f'Label Studio has {len(found)} projects titled {title!r} (ids '
                        f'{", ".join(str(p["id"]) for p in found)}): rename all but one')
    if not found:
        return client.create_project(title, config, model_version), True, []
    project = client.project(found[0]['id'])
    difference, added = label_studio.config_difference(project['label_config'], config)
    if difference:
        raise UserError(f'Label Studio project {title!r} (id {project["id"]}) is not ours to change: {difference}')
    if added:
        project = client.update_project(project['id'], label_config=config)
    return project, False, added


def pull(client, project_id, published, db, choices):
    """The project's annotations recorded as decisions: (Recorded, a line per task not taken)."""
    exported = client.export(project_id)
    emails = client.users()
    for task in exported:
        for annotation in task.get('annotations') or ():
            who = annotation.get('completed_by')
            if isinstance(who, int):
                annotation['completed_by'] = {'id': who, 'email': emails.get(who, str(who))}
    taken, problems, _ = label_studio.decisions_from_export(exported, published, choices)  # annotated tasks only
    return label_studio.record_taken(db, taken), problems


def _prediction(task):
    return task['predictions'][0]


def _same(existing, wanted):
    """Whether an existing task shows what `wanted` would: the same data and one prediction of the same model
    version, score and result."""
    shown = [{key: p.get(key) for key in ('model_version', 'result')} | {'score': round(p.get('score') or 0, 6)}
             for p in existing.get('predictions') or ()]
    prediction = _prediction(wanted)
    return existing.get('data') == wanted['data'] and shown == [
        {'model_version': prediction['model_version'], 'result': prediction['result'],
         'score': round(prediction['score'] or 0, 6)}]


def push(client, project_id, published, db, choices):
    """The queue as the project's tasks: (added, updated, unchanged)."""
    wanted = label_studio.queued_tasks(published, db, choices)
    existing = {str((t.get('data') or {}).get('item_id')): t for t in client.tasks(project_id)}
    new, updated, unchanged = [], 0, 0
    for task in wanted:
        current = existing.get(task['data']['item_id'])
        if current is None:
            new.append(task)
        elif _same(current, task):
            unchanged += 1
        else:
            if current.get('data') != task['data']:
                client.update_task(current['id'], task['data'])
            client.replace_predictions(current['id'], [p['id'] for p in current.get('predictions') or ()],
                                       _prediction(task))
            updated += 1
    for start in range(0, len(new), IMPORT_BATCH):
        client.import_tasks(project_id, new[start:start + IMPORT_BATCH])
    return len(new), updated, unchanged


def sync(client, title, published, db):
    """Pulls the project's annotations into `db`, then pushes the queue to it (the module's docstring): Synced."""
    choices = review_queue.article_choices(published.taxonomy)
    config = label_studio.label_config(sorted(choices), published.attributes)
    project, created, added_types = ensure_project(client, title, config, published.model_version)
    recorded, problems = pull(client, project['id'], published, db, choices)
    added, updated, unchanged = push(client, project['id'], published, db, choices)
    if project.get('model_version') != published.model_version and added + updated + unchanged:
        # Label Studio takes a model version only once a prediction of it is in the project
        client.update_project(project['id'], model_version=published.model_version)
    return Synced(project['id'], created, added_types, recorded, problems, added, updated, unchanged)

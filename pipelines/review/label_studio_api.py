"""The few endpoints of Label Studio's REST API (1.23) the review loop uses, with a personal access token.

A personal access token (Label Studio's default for new organisations since late 2025; legacy tokens are off
unless an administrator turns them on) is a JWT refresh token: it is exchanged at /api/token/refresh/ for a
short-lived access token, sent as `Authorization: Bearer`, and exchanged again when the server answers 401.

Plain `requests`, not label-studio-sdk: the SDK (2.1.2) needs numpy >= 2.2, and the project's TensorFlow 2.16
and Beam 2.63 need numpy < 2, so the SDK cannot share the project's environment.

Failures are one line: Label Studio not answering is `Unavailable` (exit 75: a scheduler retries), a token it
refuses is a `UserError` (exit 2), any other refusal a `UserError` naming the request and Label Studio's reason.
"""
import requests

from pipelines.errors import Unavailable, UserError

TOKEN_VARIABLE = 'FASHION_LABEL_STUDIO_TOKEN'  # the personal access token; never a flag (it would show in `ps`)
TIMEOUT_S = 60  # an import of a few thousand tasks with their images is the slowest request
PAGE_SIZE = 100


class LabelStudio:
    """A Label Studio server at `url`, reached with the personal access token `token`."""

    def __init__(self, url, token, timeout=TIMEOUT_S):
        self.url, self._refresh, self._timeout = url.rstrip('/'), token, timeout
        self._session, self._access = requests.Session(), None

    def _send(self, method, path, headers=None, **kwargs):
        try:
            return self._session.request(method, self.url + path, headers=headers, timeout=self._timeout, **kwargs)
        except requests.RequestException as e:
            raise Unavailable(f'Label Studio at {self.url} is unreachable: {type(e).__name__}') from e

    def _authorize(self):
        response = self._send('POST', '/api/token/refresh/', json={'refresh': self._refresh})
        if response.status_code in (400, 401, 403):
            raise UserError(f'Label Studio at {self.url} refused the token in ${TOKEN_VARIABLE} (HTTP '
                            f'{response.status_code}): it takes a personal access token of a user of its organisation')
        if not response.ok or 'access' not in _json(response):
            raise UserError(f'Label Studio at {self.url}: POST /api/token/refresh/ answered HTTP '
                            f'{response.status_code}; is it Label Studio 1.23 or later?')
        self._access = response.json()['access']

    def request(self, method, path, **kwargs):
        """The JSON answer of one API call (None when empty)."""
        for attempt in range(2):
            if self._access is None:
                self._authorize()
            response = self._send(method, path, headers={'Authorization': f'Bearer {self._access}'}, **kwargs)
            if response.status_code == 401 and attempt == 0:  # the access token expired: exchange the PAT again
                self._access = None
                continue
            break
        if response.status_code in (401, 403):
            raise UserError(f'Label Studio at {self.url} refused the token in ${TOKEN_VARIABLE} for {method} {path} '
                            f'(HTTP {response.status_code})')
        if not response.ok:
            raise UserError(f'Label Studio at {self.url}: {method} {path} answered HTTP {response.status_code}: '
                            f'{_reason(response)}')
        return _json(response) if response.content else None

    def pages(self, path, key, params=None):
        """Every item of a paginated list: `key` holds a page's items ('results' for most lists, 'tasks' for
        the task list)."""
        items, page = [], 1
        while True:
            answer = self.request('GET', path, params=dict(params or {}, page=page, page_size=PAGE_SIZE))
            batch = answer[key] if isinstance(answer, dict) else answer
            items += batch
            total = answer.get('total', answer.get('count')) if isinstance(answer, dict) else len(batch)
            if not batch or len(items) >= (total or 0):
                return items
            page += 1

    def projects(self, title):
        """The projects titled exactly `title`."""
        return [p for p in self.pages('/api/projects/', 'results', {'title': title}) if p['title'] == title]

    def project(self, project_id):
        return self.request('GET', f'/api/projects/{project_id}/')

    def create_project(self, title, label_config, model_version):
        return self.request('POST', '/api/projects/', json={'title': title, 'label_config': label_config,
                                                            'model_version': model_version})

    def update_project(self, project_id, **fields):
        return self.request('PATCH', f'/api/projects/{project_id}/', json=fields)

    def tasks(self, project_id):
        """Every task of a project, with its data and predictions."""
        return self.pages('/api/tasks/', 'tasks', {'project': project_id, 'fields': 'all'})

    def import_tasks(self, project_id, tasks):
        """Creates `tasks` (with their predictions) in one request."""
        return self.request('POST', f'/api/projects/{project_id}/import', json=tasks)

    def update_task(self, task_id, data):
        return self.request('PATCH', f'/api/tasks/{task_id}/', json={'data': data})

    def replace_predictions(self, task_id, old_ids, prediction):
        """The task's predictions (`old_ids`) replaced by `prediction`."""
        for prediction_id in old_ids:
            self.request('DELETE', f'/api/predictions/{prediction_id}/')
        return self.request('POST', '/api/predictions/', json=dict(prediction, task=task_id))

    def export(self, project_id):
        """The project's annotated tasks as Label Studio's JSON export."""
        return self.request('GET', f'/api/projects/{project_id}/export', params={'exportType': 'JSON'})

    def users(self):
        """{user id: email} of the organisation's users (an annotation names its annotator by id)."""
        answer = self.request('GET', '/api/users/')
        listed = answer['results'] if isinstance(answer, dict) else answer
        return {user['id']: user.get('email') or user.get('username') or str(user['id']) for user in listed}


def _json(response):
    try:
        return response.json()
    except ValueError:
        return {}


def _reason(response):
    answer = _json(response)
    text = str(answer.get('detail') or answer.get('validation_errors') or answer) if answer else response.text
    return ' '.join(text.split())[:300]

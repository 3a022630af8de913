"""Imports run one way, every import counted, the deferred ones inside functions too: no module imports itself
through others, trainer/ never imports the jobs, and each layer imports only the layers below it."""
import ast
import os

from tests.conftest import ROOT

PACKAGES = ('pipelines', 'trainer', 'schemas')
# What each layer must never import (prefixes of module names).
FORBIDDEN = {
    'trainer.': ('pipelines.jobs', 'pipelines.transforms', 'pipelines.review'),
    'pipelines.transforms.': ('pipelines.jobs', 'pipelines.review'),
    'pipelines.storage.': ('pipelines.jobs', 'pipelines.transforms', 'pipelines.review'),
    'pipelines.rules.': ('pipelines.jobs', 'pipelines.transforms', 'pipelines.review', 'pipelines.storage.'),
}
ALLOWED = {'pipelines.rules.': ('pipelines.storage.files',)}  # rules read their own files through it


def _modules():
    """{module name: source path} of the project's packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, names in os.walk(os.path.join(ROOT, package)):
            for name in names:
                if name.endswith('.py'):
                    relative = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, '.')
                    found[relative.removesuffix('.__init__')] = os.path.join(folder, name)
    return found


def _imports(path, modules):
    """The project modules a source file imports, anywhere in it."""
    imported = set()
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                name = f'{node.module}.{alias.name}'
                imported.add(name if name in modules else node.module)
    return {name for name in imported if name in modules}


def _graph():
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_no_module_imports_itself_through_others():
    graph = _graph()
    cycles, done, stack = [], set(), []

    def visit(name):
        if name in stack:
            cycles.append(stack[stack.index(name):] + [name])
            return
        if name in done:
            return
        stack.append(name)
        for imported in sorted(graph[name]):
            visit(imported)
        stack.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    assert not cycles, 'import cycles: ' + '; '.join(' -> '.join(c) for c in cycles)


def test_each_layer_imports_only_what_lies_below_it():
    wrong = []
    for name, imported in sorted(_graph().items()):
        for layer, forbidden in FORBIDDEN.items():
            if name.startswith(layer):
                allowed = ALLOWED.get(layer, ())
                wrong += [f'{name} imports {i}' for i in sorted(imported)
                          if i.startswith(forbidden) and not i.startswith(allowed)]
    assert not wrong, wrong


def test_the_graph_sees_deferred_imports():
    assert 'pipelines.jobs.prepare' in _graph()['pipelines.jobs.retrain']  # imported inside run()


def test_rules_only_read_files():
    """Rules may read their own files through storage.files; writing anything is storage's job."""
    writers = {'write_text', 'write_json', 'write_bytes', 'create', 'rename', 'delete', 'copy', 'copyfile', 'remove',
               'rmtree', 'makedirs', 'write_anomalies_text', 'write_stats_text'}
    wrong = []
    for name, path in sorted(_modules().items()):
        if name.startswith('pipelines.rules.'):
            with open(path, encoding='utf-8') as f:
                tree = ast.parse(f.read())
            wrong += [f'{name}:{node.lineno} calls {node.func.value.id}.{node.func.attr}' for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                      and isinstance(node.func.value, ast.Name) and node.func.attr in writers
                      and node.func.value.id in ('files', 'FileSystems', 'tfdv', 'os', 'shutil')]
    assert not wrong, wrong

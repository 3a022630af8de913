"""The docs as a newcomer follows them: every `fashion-pipeline ...` command quoted in README.md and docs/ names a
subcommand and flags its parser knows (parsed only, nothing run), and every relative link and repository path
they name exists."""
import argparse
import functools
import glob
import importlib
import os
import re
import shlex
from unittest import mock

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ['README.md', *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, 'docs', '*.md')))]
BEAM_JOBS = {'validate', 'prepare', 'score', 'nightly'}  # they take Beam's pipeline options too
TAKES_TRAIN_FLAGS = {'audit', 'retrain'}  # they pass what they do not know on to train's parser
GLOBAL_FLAGS = {'--verbose'}  # cli.py's own
PREFIX = re.compile(r'(?:^|[\s`(])(?:\S*/)?fashion-pipeline\s+(\w+)(.*)')
SHELL_VARIABLE = re.compile(r'^\s*(\w+)=\S*fashion-pipeline\s*$', re.M)
TABLE_CELL = re.compile(r'^\| `(\w+)( [^`]*)?` \|', re.M)


class _Parsed(Exception):
    pass


@functools.lru_cache(maxsize=None)
def known_flags(subcommand):
    """The option strings a subcommand accepts: its parser's (caught as the job builds it: nothing runs), and
    Beam's pipeline options or train's flags where the job takes them."""
    captured = []

    def capture(parser, args=None, namespace=None):
        captured.append(parser)
        raise _Parsed()
    with mock.patch.object(argparse.ArgumentParser, 'parse_known_args', capture):
        with pytest.raises(_Parsed):
            importlib.import_module(cli.SUBCOMMANDS[subcommand][0]).run([])
    flags = set(captured[0]._option_string_actions) | GLOBAL_FLAGS  # pylint: disable=protected-access
    if subcommand in BEAM_JOBS:
        flags |= {f'--{name}' for name in PipelineOptions([]).get_all_options()}
    if subcommand in TAKES_TRAIN_FLAGS:
        flags |= known_flags('train')
    return frozenset(flags)


def _code(text):
    """The doc's text with shell line continuations joined and `$(...)` substitutions made one word."""
    text = re.sub(r'\\\n\s*', ' ', text)
    return re.sub(r'\$\([^()]*\)', 'VALUE', text)


def _words(rest):
    """The words of a quoted command after its subcommand, up to the end of its code: an optional part
    `[a | b]` keeps its first alternative."""
    rest = rest.split('`')[0].split('#')[0].split(')')[0] if '`' in rest else rest.split('  #')[0]
    rest = re.sub(r'\[([^\[\]]*)\]', lambda m: re.split(r'\s*\\?\|\s*', m.group(1))[0], rest)
    try:
        return shlex.split(rest)
    except ValueError:
        return rest.split()


def quoted_commands(path):
    """[(line, subcommand, [flags])] of every fashion-pipeline command the doc quotes: in code, after the
    script's name or a shell variable holding it, and README's commands table."""
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        text = _code(f.read())
    variables = SHELL_VARIABLE.findall(text)
    prefixes = [PREFIX] + [re.compile(rf'(?:^|\s)\${name}\s+(\w+)(.*)') for name in variables]
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for prefix in prefixes:
            for match in prefix.finditer(line):
                found.append((number, match.group(1), _flags(_words(match.group(2)))))
        if path == 'README.md':
            for match in TABLE_CELL.finditer(line):
                if match.group(1) in cli.SUBCOMMANDS:
                    found.append((number, match.group(1), _flags(_words(match.group(2) or ''))))
    return found


def _flags(words):
    return [word.split('=')[0] for word in words if re.match(r'^--?[a-z]', word)]


def test_the_docs_quote_commands_and_each_names_a_subcommand_and_flags_its_parser_accepts():
    problems, count = [], 0
    for path in DOCS:
        for line, subcommand, flags in quoted_commands(path):
            if subcommand not in cli.SUBCOMMANDS:
                if subcommand.islower() and subcommand not in ('is', 'and', 'or'):
                    problems.append(f'{path}:{line}: no subcommand {subcommand!r}')
                continue
            count += 1
            problems += [f'{path}:{line}: {subcommand} has no flag {flag}' for flag in flags
                         if flag not in known_flags(subcommand)]
    assert count >= 25, f'only {count} commands found: the extraction broke'
    assert not problems, '\n'.join(problems)


def test_the_commands_table_is_read_flag_by_flag():
    commands = quoted_commands('README.md')
    assert any(sub == 'audit' and '--folds' in flags for _, sub, flags in commands)
    assert '--folds' in known_flags('audit') and '--fold-count' not in known_flags('audit')


LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
PATH = re.compile(r'`([\w.-]+(?:/[\w.-]+)+/?)`')


def _top_level():
    return {name for name in os.listdir(ROOT) if not name.startswith('.') or name == '.ci'} - {'runs', 'build'}


def named_paths(path):
    """[(line, target)]: the doc's relative links (from its folder) and the repository paths it names in code."""
    folder = os.path.dirname(path)
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        lines = f.read().splitlines()
    found = []
    for number, line in enumerate(lines, start=1):
        for target in LINK.findall(line):
            if not re.match(r'^[a-z]+:', target) and not target.startswith('#'):
                found.append((number, os.path.normpath(os.path.join(folder, target.split('#')[0]))))
        for target in PATH.findall(line):
            if target.split('/')[0] in _top_level() and not re.search(r'[A-Z]{2,}|<', target.split('/', 1)[1]):
                found.append((number, target.rstrip('/')))
    return found


def test_every_relative_link_and_repository_path_in_the_docs_exists():
    missing = [f'{path}:{line}: {target}' for path in DOCS for line, target in named_paths(path)
               if not os.path.exists(os.path.join(ROOT, target))]
    assert sum(len(named_paths(path)) for path in DOCS) > 50
    assert not missing, '\n'.join(missing)

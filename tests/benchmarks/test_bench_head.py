"""BENCHMARKS.md is what bench.py renders from its sources, and its first table names, for every figure, a date,
a machine, a command and a section that exists."""
import importlib.util
import json
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def bench():
    sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))  # bench.py imports its sibling scripts, as when it runs
    try:
        spec = importlib.util.spec_from_file_location('bench', os.path.join(ROOT, 'benchmarks', 'bench.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.join(ROOT, 'benchmarks'))
    return module


def _raw():
    with open(os.path.join(ROOT, 'BENCHMARKS.json'), encoding='utf-8') as f:
        return json.load(f)


def test_benchmarks_md_is_what_bench_py_renders_from_its_sources(bench):
    rendered = bench.markdown(_raw())
    with open(os.path.join(ROOT, 'BENCHMARKS.md'), encoding='utf-8') as f:
        assert f.read() == rendered, 'run: .venv/bin/python benchmarks/bench.py --markdown-only'


def test_every_figure_of_the_first_table_has_its_date_machine_command_and_section(bench):
    lines = bench.head_table(_raw())
    headings = re.findall(r'^## (.*)$', bench.markdown(_raw()), re.M)
    with open(bench.CURRENT, encoding='utf-8') as f:
        by_hand = json.load(f)
    assert len(lines) - 2 > len(by_hand) + len(bench.stage_rows(_raw()))  # bench.py's, by hand, and the judged
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip('|').split(' | ')]
        assert re.match(r'^2026-\d\d-\d\d, \S', cells[6]), line
        command, section = re.match(r'^`([^`]+)` \("([^"]+)"\)$', cells[7]).groups()
        assert command and any(h.startswith(section) for h in headings), (section, line)
        assert cells[5] in ('met', '**missed**', '—')

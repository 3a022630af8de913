"""CI cannot hide a skip: under CI a missing part fails its test, and a run with any skipped test fails."""
import os
import subprocess
import sys

from tests.conftest import ROOT

PARTS = '''import pytest
from tests.conftest import missing

def test_a_missing_part():
    missing('no such part here')

def test_a_plain_skip():
    pytest.skip('skipped anyway')

def test_a_pass():
    pass
'''


def _pytest(folder, ci, *selection):
    env = {k: v for k, v in os.environ.items() if k not in ('CI', 'PYTEST_ADDOPTS')}
    env.update(PYTHONPATH=ROOT, **({'CI': ci} if ci else {}))
    return subprocess.run([sys.executable, '-m', 'pytest', '-p', 'tests.conftest', '-p', 'no:cacheprovider', '-q',
                           '-rs', *(f'test_parts.py::{name}' for name in selection)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_under_ci_a_missing_part_fails_and_a_skip_fails_the_run_while_elsewhere_both_skip(tmp_path):
    (tmp_path / 'test_parts.py').write_text(PARTS)
    local = _pytest(tmp_path, '', 'test_a_missing_part', 'test_a_plain_skip', 'test_a_pass')
    assert local.returncode == 0 and '1 passed, 2 skipped' in local.stdout, local.stdout
    assert 'no such part here' in local.stdout
    ci = _pytest(tmp_path, 'true', 'test_a_missing_part', 'test_a_pass')
    assert ci.returncode == 1 and '1 failed, 1 passed' in ci.stdout, ci.stdout
    assert 'no such part here (under CI nothing is skipped)' in ci.stdout
    skip = _pytest(tmp_path, 'true', 'test_a_plain_skip', 'test_a_pass')
    assert skip.returncode == 1 and '1 passed, 1 skipped' in skip.stdout, skip.stdout
    assert 'under CI nothing may be skipped: failing the run' in skip.stdout


def test_the_ci_script_is_valid_bash():
    subprocess.run(['bash', '-n', os.path.join(ROOT, '.ci', 'run')], check=True, timeout=30)

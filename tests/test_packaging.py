"""The package as Dataflow workers get it through --setup_file: built into a wheel and installed without
the source tree, every job and its package data must be there."""
import glob
import os
import subprocess
import sys
import sysconfig

import pytest

from pipelines import cli

pytestmark = pytest.mark.slow  # builds and installs a wheel

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = sorted({module for module, _ in cli.SUBCOMMANDS.values()} | {'pipelines.cli'})


def test_the_wheel_installs_in_a_fresh_venv_and_every_job_imports_from_it(tmp_path):
    dist, venv = tmp_path / 'dist', tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', ROOT, '--no-deps', '--no-build-isolation', '--quiet',
                    '-w', str(dist)], check=True, capture_output=True, cwd=tmp_path)
    wheel, = glob.glob(str(dist / '*.whl'))
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = str(venv / 'bin' / 'python')
    subprocess.run([sys.executable, '-m', 'pip', '--python', python, 'install', '--no-deps', '--quiet', wheel],
                   check=True, capture_output=True)
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          check=True, capture_output=True, text=True).stdout.strip()
    # The dependencies come from the project's environment; its editable install of this package does not
    # (a .pth line adds a folder to sys.path without running the .pth files inside it).
    with open(os.path.join(site, 'project_dependencies.pth'), 'w', encoding='utf-8') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    check = ('import importlib, importlib.resources, os, sys\n'
             f'modules = {MODULES!r}\n'
             'for name in modules:\n'
             '    module = importlib.import_module(name)\n'
             f'    assert module.__file__.startswith({site!r}), (name, module.__file__)\n'
             "for data in ('taxonomy.json', 'styles_schema.pbtxt'):\n"
             "    assert (importlib.resources.files('schemas') / data).is_file(), data\n"
             "for data in ('templates/queue.html', 'static/review.js', 'static/review.css'):\n"
             "    assert (importlib.resources.files('pipelines.review') / data).is_file(), data\n"
             "importlib.import_module('pipelines.review.app')\n"
             "print('imported', len(modules))\n")
    result = subprocess.run([python, '-c', check], capture_output=True, text=True, cwd=tmp_path, timeout=600,
                            env={**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '3'})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f'imported {len(MODULES)}'

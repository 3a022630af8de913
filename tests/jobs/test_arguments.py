"""Every job's path flags: a file where a folder belongs, or a folder where a file belongs, ends in one
line on stderr and exit 2, before any work starts."""
import os
import subprocess
import sys

import pytest

from pipelines import cli

# (job, the flags it needs, the path flags that take a folder, those that take a file)
JOBS = {
    'synth': (['--output', 'O'], ['--output'], []),
    'validate': (['--catalog', 'C', '--output', 'O'], ['--catalog', '--output'], ['--baseline']),
    'prepare': (['--catalog', 'C', '--output', 'O'], ['--catalog', '--output'], ['--taxonomy', '--overrides']),
    'train': (['--data', 'D', '--model-dir', 'M'], ['--data', '--model-dir', '--baseline-model'], []),
    'evaluate': (['--data', 'D', '--model-dir', 'M'], ['--data', '--model-dir', '--baseline-model'], []),
    'score': (['--catalog', 'C', '--model', 'E', '--output', 'O'], ['--catalog', '--model', '--output'], []),
    'nightly': (['--catalog', 'C', '--model', 'E', '--state', 'S'], ['--catalog', '--model', '--state'], ['--reviews']),
    'review': (['--state', 'S'], ['--state', '--catalog'], ['--db', '--export-overrides', '--export-label-studio',
                                                            '--import-label-studio']),
    'report': (['--prepared', 'P', '--output', 'R'], ['--prepared', '--validation', '--model-dir', '--scores'],
               ['--output', '--reviews']),
    'make_schema': (['--catalog', 'C', '--output', 'F'], ['--catalog'], ['--output']),
    'retrain': (['--catalog', 'C', '--models', 'M'], ['--catalog', '--models'], ['--overrides']),
    'models': (['--models', 'M'], ['--models'], []),
}
CASES = [(job, flag, 'file') for job, (_, folders, _) in JOBS.items() for flag in folders] + \
        [(job, flag, 'folder') for job, (_, _, files) in JOBS.items() for flag in files]


def _args(tmp_path, job, flag, given):
    """The job's needed flags pointing into an empty scratch folder, with `flag` set to `given`."""
    needed, _, _ = JOBS[job]
    args = [job]
    for name, value in zip(needed[::2], needed[1::2]):
        args += [name, str(tmp_path / 'absent' / value)]
    if flag in args:
        args[args.index(flag) + 1] = given
    else:
        args += [flag, given]
    return args


@pytest.mark.parametrize('job, flag, given', CASES, ids=[f'{j} {f} given a {g}' for j, f, g in CASES])
def test_a_path_of_the_wrong_kind_is_one_line_and_exit_2(tmp_path, capsys, job, flag, given):
    a_file, a_folder = tmp_path / 'a-file', tmp_path / 'a-folder'
    a_file.write_text('not a folder')
    a_folder.mkdir()
    code = cli.main(_args(tmp_path, job, flag, str(a_file if given == 'file' else a_folder)))
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(error) == 1 and f'{flag} ' in error[0] and ('is not a folder' if given == 'file' else
                                                           'is not a file') in error[0], error


@pytest.mark.slow  # the command in a subprocess
def test_nightly_given_a_file_as_its_state_exits_2_with_one_line_for_real(tmp_path):
    state = tmp_path / 'state'
    state.write_text('oops')
    script = os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline')
    as_a_user = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONWARNINGS')}
    result = subprocess.run([script, 'nightly', '--catalog', str(tmp_path), '--model', str(tmp_path), '--state',
                             str(state)], capture_output=True, text=True, timeout=300, check=False, env=as_a_user)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"fashion-pipeline nightly: error: --state '{state}' is not a folder"]


def test_models_on_a_folder_that_does_not_exist_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(['models', '--models', str(tmp_path / 'nowhere')]) == 2
    assert capsys.readouterr().err.strip() == (f"fashion-pipeline models: error: --models '{tmp_path / 'nowhere'}' "
                                               'does not exist')

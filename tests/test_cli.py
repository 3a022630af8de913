"""The console script as a user runs it: clear one-line errors, never a traceback."""
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(sys.executable), 'fashion-pipeline')


def _run(*args):
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=300, check=False)


def test_help_lists_the_subcommands():
    result = _run('--help')
    assert result.returncode == 0
    for name in ('synth', 'validate', 'prepare'):
        assert name in result.stdout


@pytest.mark.parametrize('args, message', [
    (['prepare', '--catalog', '/no/such/catalog', '--output', '/tmp/x'], 'no styles.csv'),
    pytest.param(['validate', '--catalog', '/no/such/catalog', '--output', '/tmp/x'], 'no styles.csv',
                 marks=pytest.mark.slow),
    pytest.param(['validate', '--catalog', '.', '--output', '/tmp/x', '--max-quarantine-rate', '7'], 'not a fraction',
                 marks=pytest.mark.slow),
    (['synth', '--output', '/tmp/x', '--rows', '3'], 'at least'),
    (['nosuch'], 'unknown subcommand'),
])
def test_bad_input_gets_one_clear_line(args, message):
    result = _run(*args)
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow  # two commands in subprocesses
def test_synth_then_prepare_through_the_cli(tmp_path):
    catalog, output = str(tmp_path / 'catalog'), str(tmp_path / 'prepared')
    assert _run('synth', '--output', catalog, '--rows', '120').returncode == 0
    result = _run('prepare', '--catalog', catalog, '--output', output)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'prepared' in result.stdout and os.path.exists(os.path.join(output, 'manifest.json'))
    assert _run('synth', '--output', catalog).returncode != 0


@pytest.mark.slow  # three commands in subprocesses
def test_train_help_and_a_prepare_run_print_nothing_from_tensorflow_on_stderr(tmp_path):
    as_a_user = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONWARNINGS')}

    def run(*args):
        return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=300, check=False,
                              env=as_a_user)

    help_text = run('train', '--help')
    assert help_text.returncode == 0 and '--model' in help_text.stdout
    assert help_text.stderr == ''
    catalog = str(tmp_path / 'catalog')
    assert run('synth', '--output', catalog, '--rows', '120').returncode == 0
    prepared = run('prepare', '--catalog', catalog, '--output', str(tmp_path / 'prepared'))
    assert prepared.returncode == 0 and prepared.stdout.startswith('prepared ')
    assert prepared.stderr == ''
    noisy = run('train', '--help', '--verbose')
    assert noisy.returncode == 0 and '--model' in noisy.stdout


def test_a_score_run_with_the_full_labels_model_prints_nothing_on_stderr(trained, tmp_path):
    """Beam's RunInference keeps the last model alive until interpreter shutdown, where TensorFlow's function
    destructors printed "Exception ignored in AtomicFunction.__del__" a dozen times (cli.release_shared_models)."""
    as_a_user = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL', 'PYTHONWARNINGS')}
    scored = subprocess.run([SCRIPT, 'score', '--catalog', trained[0], '--model', trained[4],
                             '--output', str(tmp_path / 'scores')],
                            capture_output=True, text=True, timeout=300, check=False, env=as_a_user)
    assert scored.returncode == 0 and scored.stdout.startswith('scored '), scored.stdout + scored.stderr
    assert scored.stderr == ''

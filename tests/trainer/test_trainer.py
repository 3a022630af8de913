import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from scipy.special import softmax

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.rules import catalog
from pipelines.storage import files
from trainer import data, evaluate, export, features, model as model_lib, train


def test_seed_cnn_has_the_seed_parameter_count():
    rgb = model_lib.seed_cnn(30, 3)
    assert rgb.count_params() == 9_914_686
    assert sum(int(np.prod(w.shape)) for w in rgb.trainable_weights) == 9_913_278
    assert model_lib.seed_cnn(30, 1).count_params() == 9_914_686 - 3 * 3 * 2 * 32


@pytest.mark.parametrize('channels', [3, 1])
def test_dataset_decodes_every_image_to_one_shape(prepared_synthetic, channels):
    output, manifest = prepared_synthetic
    total = 0
    for images, labels in data.make_dataset(output, 'train', channels, training=True, batch_size=16):
        assert images.shape[1:] == (features.IMAGE_HEIGHT, features.IMAGE_WIDTH, channels)
        assert images.dtype == tf.float32
        assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
        total += int(labels.shape[0])
    assert total == sum(manifest['class_counts']['train'].values())



@pytest.mark.parametrize('size', [(80, 60), (80, 53), (60, 60)])
def test_decoding_gives_the_resize_pixels_whether_or_not_the_resize_is_skipped(size):
    pixels = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    jpeg = tf.io.encode_jpeg(pixels)
    expected = tf.cast(tf.round(tf.image.resize(tf.io.decode_jpeg(jpeg, channels=3), [80, 60])), tf.uint8)
    np.testing.assert_array_equal(features.decode_image(jpeg, 3), expected)
    np.testing.assert_array_equal(features.decode_images(tf.stack([jpeg, jpeg]), 3), tf.stack([expected] * 2))


def test_short_training_beats_chance_by_far(trained):
    metrics = trained[3]  # the Class, from the full-labels model's leaves; synth hides a share of the types
    assert metrics['test.accuracy'] > 0.7 > 10 / 30
    assert metrics['val.accuracy'] > 0.7
    assert metrics['test.article_type.accuracy'] > 0.7


def test_evaluation_files_are_there_and_sane(trained):
    _, _, model_dir, metrics, _ = trained
    with open(os.path.join(model_dir, 'metrics.json'), encoding='utf-8') as f:
        assert json.load(f) == metrics
    for split in ('train', 'val', 'test'):
        for key in ('loss', 'accuracy', 'macro_precision', 'macro_recall', 'macro_f1', 'weighted_f1'):
            assert f'{split}.{key}' in metrics
    with open(os.path.join(model_dir, 'classification_report.txt'), encoding='utf-8') as f:
        report = f.read()
    assert 'Watches' in report and '== test' in report
    matrix = pd.read_csv(os.path.join(model_dir, 'confusion_matrix.csv'), index_col=0)
    assert list(matrix.columns) == list(matrix.index) == list(data.read_prepared(trained[1])[1])
    assert matrix.shape == (30, 30) and matrix.values.sum() == metrics['test.examples']
    for name in ('confusion_matrix.png', 'misclassified.png', 'training_log.csv', artifacts.MODEL_FILE):
        assert os.path.getsize(os.path.join(model_dir, name)) > 0, name
    with open(os.path.join(model_dir, 'blessing.json'), encoding='utf-8') as f:
        assert json.load(f)['blessed'] is True
    for key in ('nll', 'nll_uncalibrated', 'ece', 'ece_uncalibrated'):
        assert 0.0 <= metrics[f'test.{key}'] < 5.0, key
    assert metrics['test.nll'] <= metrics['test.nll_uncalibrated'] + 0.05  # fitted on val, checked on test
    with open(os.path.join(model_dir, artifacts.CALIBRATION), encoding='utf-8') as f:
        details = json.load(f)
    assert details['temperature'] == metrics['calibration.temperature']
    assert details['flag']['max_given_probability'] == metrics['flag.max_given_probability']
    assert sum(b['count'] for b in details['test_reliability']['calibrated']) == metrics['test.examples']
    assert details['test_risk_coverage'][0]['coverage'] == 1.0


def test_export_scores_raw_jpeg_bytes_like_the_trained_model(trained):
    catalog_dir, prepared, model_dir, metrics, export_path = trained
    from PIL import Image  # pylint: disable=import-outside-toplevel
    loaded, extra = export.load(export_path)
    _, classes = data.read_prepared(prepared)
    assert extra['labels.txt'].splitlines() == list(classes)
    assert json.loads(extra['taxonomy.json'])['version']
    assert 'training_data_manifest_sha256' in json.loads(extra['lineage.json'])
    paths = sorted(os.path.join(catalog.images_dir(catalog_dir), name)
                   for name in os.listdir(catalog.images_dir(catalog_dir)))
    blobs = [files.read_bytes(p) for p in paths]
    kinds = []
    for path in paths:
        with Image.open(path) as image:
            kinds.append((image.mode, image.size))
    chosen = [i for i, (mode, _) in enumerate(kinds) if mode == 'L'][:2]
    chosen += [i for i, (_, size) in enumerate(kinds) if size != (60, 80)][:2] + [0, 1]
    batch, names = tf.constant([blobs[i] for i in chosen]), tf.constant(['Nike Men Black Watch'] * len(chosen))
    served = loaded.signatures[artifacts.SERVING_SIGNATURE](image_bytes=batch, name=names)
    keras_model, leaves = evaluate.load_trained(model_dir)
    raw = keras_model.predict_on_batch({'image': tf.stack([features.preprocess(b, 3) for b in batch]),
                                        'name': names})['fused']
    temperature = json.loads(extra[artifacts.CALIBRATION])['temperature']
    assert temperature == metrics['calibration.temperature'] and temperature != 1.0
    expected = leaves.level_probabilities(softmax(np.log(raw) / temperature, axis=1), 'Class')
    np.testing.assert_allclose(served['probabilities'].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(served['probabilities'].numpy().sum(axis=1), 1.0, atol=1e-5)
    assert [c.decode() for c in served['class_name'].numpy()] == [classes[i] for i in expected.argmax(1)]
    np.testing.assert_allclose(served['confidence'].numpy(), expected.max(1), atol=1e-5)


def _train_command(prepared, model_dir, *extra):
    return [sys.executable, '-m', 'trainer.train', '--data', prepared, '--model-dir', model_dir,
            '--epochs', '4', '--batch-size', '8', '--bn-momentum', '0.9', '--bless-min-accuracy', '0', *extra]


def _logged_epochs(model_dir):
    path = os.path.join(model_dir, artifacts.TRAINING_LOG)
    if not os.path.exists(path):
        return []
    with open(path, encoding='utf-8') as f:
        return [int(row['epoch']) for row in csv.DictReader(f)]


@pytest.mark.slow  # trains a model
def test_a_killed_run_resumes_from_its_last_epoch(prepared_synthetic, tmp_path):
    prepared, model_dir = prepared_synthetic[0], str(tmp_path / 'model')
    process = subprocess.Popen(_train_command(prepared, model_dir), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not _logged_epochs(model_dir) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _logged_epochs(model_dir)
    assert 1 <= len(done) < 4, f'run was not stopped mid-way: {done}'
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(_train_command(prepared, model_dir), check=True, capture_output=True)
    subprocess.run(_train_command(prepared, model_dir, '--resume'), check=True, capture_output=True)
    assert _logged_epochs(model_dir) == [0, 1, 2, 3]
    assert os.path.exists(os.path.join(model_dir, 'metrics.json'))
    assert not os.path.exists(os.path.join(model_dir, 'backup'))


def test_not_a_prepared_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match='not a prepare output'):
        train.run(['--data', str(tmp_path), '--model-dir', str(tmp_path / 'model')])


def test_evaluate_command_reproduces_the_training_metrics(trained, tmp_path):
    from trainer import evaluate  # pylint: disable=import-outside-toplevel
    _, prepared, trained_dir, metrics, _ = trained
    model_dir = str(tmp_path / 'model')  # a copy: the shared fixture's blessing must stay as trained
    shutil.copytree(trained_dir, model_dir)
    evaluate.run(['--data', prepared, '--model-dir', model_dir, '--bless-min-accuracy', '0.99'])
    with open(os.path.join(model_dir, 'metrics.json'), encoding='utf-8') as f:
        again = json.load(f)
    assert again == pytest.approx(metrics, abs=1e-6)
    with open(os.path.join(model_dir, 'blessing.json'), encoding='utf-8') as f:
        assert json.load(f)['blessed'] == (metrics['test.accuracy'] >= 0.99)


def test_balanced_class_weights_favour_rare_classes():
    manifest = {'class_counts': {'train': {'A': 90, 'B': 10}}}
    weights = train.class_weights(manifest, ('A', 'B', 'C'))
    assert set(weights) == {0, 1}
    assert weights[1] == pytest.approx(9 * weights[0]) and weights[0] == pytest.approx(100 / (2 * 90))


def test_precise_batch_norm_statistics_are_the_average_over_batches_with_dropout_off():
    import keras  # pylint: disable=import-outside-toplevel

    from trainer import precise_bn  # pylint: disable=import-outside-toplevel
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dropout(0.5),
                              keras.layers.BatchNormalization(momentum=0.99), keras.layers.Dense(2)])
    batches = [np.random.default_rng(i).normal(i, 1 + i, size=(16, 3)).astype('float32') for i in range(3)]
    dataset = tf.data.Dataset.from_tensor_slices((np.concatenate(batches), np.zeros(48))).batch(16)
    precise_bn.recalibrate(model, dataset, steps=3)
    dense_outputs = [model.layers[0](b).numpy() for b in batches]
    batch_norm = model.layers[2]
    np.testing.assert_allclose(batch_norm.moving_mean.numpy(), np.mean([o.mean(0) for o in dense_outputs], 0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batch_norm.moving_variance.numpy(), np.mean([o.var(0) for o in dense_outputs], 0),
                               rtol=1e-4, atol=1e-5)
    assert batch_norm.momentum == 0.99

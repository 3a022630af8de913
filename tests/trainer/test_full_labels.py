"""The full-labels model (the default): its serving signature, names it must survive, its levels and heads."""
import numpy as np
import pytest
import tensorflow as tf

from pipelines import artifacts
from pipelines.rules import attributes as attributes_lib, leaves as leaves_lib
from pipelines.storage import exported_model, files
from trainer import calibration, data, evaluate, export, features, model as model_lib

pytestmark = pytest.mark.slow  # the session's trained model

ODD_NAMES = [b'', ('Nike Men Black Running Shoes ' * 400)[:10_000].encode(), b'\xff\xfe\x80 not utf-8 \xc3',
             b'%%%% ???? 1234 ####']


def _test_batch(trained, size=32):
    return next(iter(data.labelled_batches(trained[1], 'test', 3, batch_size=size)))


def _jpegs(trained, size=32):
    """The raw JPEG bytes and names of the first test items, as prepare wrote them."""
    pattern = artifacts.tfrecord_pattern(trained[1], 'test')
    records = tf.data.TFRecordDataset(sorted(tf.io.gfile.glob(pattern)), compression_type='GZIP').batch(size)
    parsed = tf.io.parse_example(next(iter(records)), features.FEATURE_SPEC)
    return parsed['image'], parsed['productDisplayName']


def test_the_signature_takes_bytes_and_a_name_and_answers_as_the_keras_model(trained):
    model, leaves = evaluate.load_trained(trained[2])
    serve = tf.saved_model.load(trained[4]).signatures[artifacts.SERVING_SIGNATURE]
    assert set(serve.structured_input_signature[1]) == {'image_bytes', 'name'}
    jpegs, names = _jpegs(trained)
    served = serve(image_bytes=jpegs, name=names)
    temperatures = files.read_json(f'{trained[2]}/{artifacts.CALIBRATION}')['temperatures']
    images = features.rescale(features.decode_images(jpegs, 3))
    raw = model({'image': images, 'name': names}, training=False)
    for head, key in export.HEAD_OUTPUTS.items():
        np.testing.assert_allclose(served[key].numpy(), calibration.scale(raw[head].numpy(), temperatures[head]),
                                   atol=1e-5)
    np.testing.assert_allclose(served['probabilities'].numpy(),
                               leaves.level_probabilities(served['article_probabilities'].numpy(), 'Class'), atol=1e-5)


def test_empty_garbage_very_long_and_non_utf8_names_get_an_answer(trained):
    serve = tf.saved_model.load(trained[4]).signatures[artifacts.SERVING_SIGNATURE]
    jpegs, _ = _jpegs(trained, len(ODD_NAMES))
    out = serve(image_bytes=jpegs, name=tf.constant(ODD_NAMES))
    for key in ('probabilities', *export.HEAD_OUTPUTS.values()):
        values = out[key].numpy()
        assert np.isfinite(values).all() and np.allclose(values.sum(axis=1), 1.0, atol=1e-4), key


def test_with_every_name_empty_the_model_still_answers_from_the_image(trained):
    model, leaves = evaluate.load_trained(trained[2])
    batch = _test_batch(trained, 256)
    blank = model.predict_on_batch({'image': batch['image'], 'name': tf.fill(tf.shape(batch['productDisplayName']), '')})
    image_only = leaves.level_probabilities(np.asarray(blank['image_only']), 'Class').argmax(1)
    fused = leaves.level_probabilities(np.asarray(blank['fused']), 'Class').argmax(1)
    truth = batch['class_index'].numpy()
    assert (fused == truth).mean() >= 0.5  # chance is 1/30
    # Not far below the image head: the demo's test split has 57 items (one is 0.018); the float32 demo model
    # measured 0.509 against 0.667 (2026-12-06), so the bound leaves that noise room, not a collapse.
    assert (fused == truth).mean() >= (image_only == truth).mean() - 0.2


def test_the_levels_sum_their_leaves_and_the_heads_each_give_an_opinion(trained):
    metrics, leaves = trained[3], leaves_lib.Leaves.from_json(files.read_text(f'{trained[2]}/{artifacts.LEAVES}'))
    assert not leaves.is_other().all() and len(set(leaves.article_types)) == len(leaves.article_types)
    for level in ('masterCategory', 'subCategory', 'Class'):
        matrix = leaves.matrix(level)
        assert (matrix.sum(axis=1) == 1).all()  # each leaf has one parent: a parent is never less sure than a child
    for head in ('', 'image_only.', 'name_only.'):
        for level in ('article_type', 'sub_category', 'master_category', 'class'):
            assert 0 <= metrics[f'test.{head}{level}.accuracy'] <= 1
        # A level's prediction is the argmax of its summed leaves, which need not be the top leaf's parent, so a weak
        # head can name the type and miss the level above. On the fixture's ~43 test items that reached 3 items
        # (0.767 against 0.698 for one head in a CI run of 2026-12-07, float32 on AMD EPYC): 0.1 leaves that
        # room and still catches a level above that lags its types by more than four items.
        assert metrics[f'test.{head}article_type.accuracy'] <= metrics[f'test.{head}sub_category.accuracy'] + 0.1
    for level in ('article_type', 'sub_category', 'master_category'):
        assert 0 <= metrics[f'test.{level}.ece'] <= 1
    assert metrics['test.accuracy'] == metrics['test.class.accuracy']


def test_neither_modality_alone_is_enough_on_the_synthetic_catalog(trained):
    """synth hides the type from a share of the images and leaves it out of a share of the names, never both:
    the fused head must beat each head alone at articleType level."""
    metrics = trained[3]
    fused = metrics['test.article_type.accuracy']
    assert fused > metrics['test.name_only.article_type.accuracy']
    assert fused >= metrics['test.image_only.article_type.accuracy']


def test_the_export_says_it_is_a_full_labels_model(trained):
    model = exported_model.load_exported(trained[4])
    assert model.full_labels and model.kind == 'full labels (image + name)'
    assert set(model.evidence_thresholds) == {f'{head}' for head in model_lib.HEADS if head != 'fused'}
    assert 0 <= model.flag_type_max_given_probability <= 1
    assert {level: set(bars) for level, bars in model.single_evidence_thresholds.items()} == {
        level: {'image', 'name', 'combined'} for level in ('class', 'type')}


def test_the_attribute_heads_learn_gender_from_the_name_and_colour_from_the_image(trained):
    """synth writes the gender into every name and paints the colour into every image (a band at its foot)."""
    metrics = trained[3]
    attributes = evaluate.load_attributes(trained[2])
    assert tuple(attributes.values) == attributes_lib.ATTRIBUTES
    assert metrics['test.name_only.gender.accuracy'] >= 0.9
    colours = len(attributes.values['baseColour'])
    assert metrics['test.image_only.baseColour.accuracy'] >= 2 / colours  # 3 epochs: 0.38 against 0.1 by chance
    serve, _ = export.load(trained[4])
    jpegs, names = _jpegs(trained)
    outputs = serve.signatures[artifacts.SERVING_SIGNATURE](image_bytes=jpegs, name=names)
    for attribute in attributes.values:
        for head in attributes_lib.HEADS:
            probabilities = outputs[attributes_lib.output_name(attribute, head)].numpy()
            assert probabilities.shape == (len(jpegs), len(attributes.values[attribute]))
            np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

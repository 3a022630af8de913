"""Training precision: mixed bfloat16 only where the CPU has it natively, and a float32 model out of it."""
import keras
import numpy as np
import pytest

from trainer import model as model_lib, precision, recipe as recipes


def test_auto_picks_bfloat16_only_on_a_cpu_with_native_bfloat16(monkeypatch):
    assert precision.resolve('float32') == 'float32'
    assert precision.resolve('mixed_bfloat16') == 'mixed_bfloat16'
    monkeypatch.setattr(precision, 'cpu_flags', lambda: {'avx2', 'avx512f', 'amx_bf16'})
    assert precision.resolve('auto') == 'mixed_bfloat16'
    monkeypatch.setattr(precision, 'cpu_flags', lambda: {'avx2', 'avx512f'})
    assert precision.resolve('auto') == 'float32'


@pytest.mark.slow  # trains a model
def test_a_bfloat16_model_computes_in_bfloat16_and_is_served_as_the_same_model_in_float32():
    keras.utils.set_random_seed(1)
    model = recipes.compiled_model('resnet', 30, 3, recipes.RECIPES['resnet'], 10, policy='mixed_bfloat16')
    assert keras.config.dtype_policy().name == 'float32'  # the policy does not leak out
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert {layer.compute_dtype for layer in convolutions} == {'bfloat16'}
    assert {w.dtype for w in model.weights} == {'float32'}
    images = np.random.default_rng(0).random((32, 80, 60, 3), dtype=np.float32)
    labels = np.arange(32) % 30
    model.fit(images, labels, epochs=1, verbose=0)
    served = precision.as_float32(model)
    assert {layer.compute_dtype for layer in served.layers if layer.weights} == {'float32'}
    mixed, full = model.predict(images, verbose=0), served.predict(images, verbose=0)
    assert mixed.dtype == full.dtype == np.float32  # the softmax computes in float32 under any policy
    assert np.abs(mixed - full).max() < 0.02  # bfloat16 keeps 8 bits of mantissa
    assert (mixed.argmax(1) == full.argmax(1)).mean() >= 0.9
    assert precision.as_float32(served) is served


@pytest.mark.parametrize('name', sorted(model_lib.MODELS))
def test_a_float32_build_is_unchanged(name):
    model = recipes.compiled_model(name, 30, 3, recipes.RECIPES[name], 10)
    assert {layer.compute_dtype for layer in model.layers if layer.weights} == {'float32'}

"""Training precision: mixed bfloat16 where the CPU multiplies bfloat16 natively, float32 elsewhere.

Under Keras' `mixed_bfloat16` policy layers compute in bfloat16 and keep float32 weights; bfloat16 has
float32's exponent range, so no loss scaling is needed. Only CPUs with native bfloat16 instructions
(AVX512_BF16, AMX) gain from it: elsewhere it is emulated and slower, so `auto` falls back to float32. A
model trained in bfloat16 is converted to float32 before it is evaluated, saved and exported, so every
machine serves it at float32's speed and the figures describe the served model.
"""
import contextlib

import keras
import tensorflow as tf

CHOICES = ('auto', 'float32', 'mixed_bfloat16')
_BF16_CPU_FLAGS = {'avx512_bf16', 'amx_bf16'}


def cpu_flags():
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            return set(next((line.split(':', 1)[1].split() for line in f if line.startswith('flags')), []))
    except OSError:
        return set()


def resolve(choice):
    """The policy `choice` trains with here: `auto` is mixed_bfloat16 on a CPU-only machine whose CPU has native
    bfloat16 instructions, float32 otherwise."""
    if choice != 'auto':
        return choice
    native = bool(_BF16_CPU_FLAGS & cpu_flags()) and not tf.config.list_physical_devices('GPU')
    return 'mixed_bfloat16' if native else 'float32'


@contextlib.contextmanager
def policy(name):
    """Layers made inside compute under dtype policy `name`."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def as_float32(model):
    """`model` with every layer computing in float32 and the same weights (the model itself when it already does)."""
    if all(layer.dtype_policy.name == 'float32' for layer in model.layers):
        return model

    def float32_layer(layer):
        if isinstance(layer, keras.layers.TextVectorization):  # a lookup: its vocabulary is not a weight to copy
            return layer
        return layer.__class__.from_config({**layer.get_config(), 'dtype': 'float32'})

    converted = keras.models.clone_model(model, clone_function=float32_layer)
    converted.set_weights(model.get_weights())
    return converted

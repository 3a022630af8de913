"""What a model costs: parameters and forward multiply-adds per image, computed from its layers.

Multiply-adds are counted where they are made, in the layers with a kernel (convolutions and dense
layers), as ResNet and MobileNet papers count them; BatchNorm, activations, pooling and adds are left out. A
dense layer on a sparse input (the name's TF-IDF) is counted as if its input were dense: an upper bound, since
the sparse product makes (non-zeros x units) of them. A layer with weights of a kind not listed here raises, so
a new architecture cannot be under-counted.
"""
import math

import keras

from trainer import model as model_lib

_PER_OUTPUT_POSITION = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
                        keras.layers.DepthwiseConv2D, keras.layers.Dense)
_NO_MULTIPLY_ADDS = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
                     keras.layers.TextVectorization,  # a table lookup
                     model_lib.TfIdf)  # its idf weights scale counts


def _leaf_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)  # pylint: disable=protected-access
            if not layer._layers]  # pylint: disable=protected-access


def multiply_adds(model):
    """Forward multiply-adds for one input: each kernel weight is used once per output position."""
    total = 0
    for layer in _leaf_layers(model):
        if not layer.weights or isinstance(layer, _NO_MULTIPLY_ADDS):
            continue
        if not isinstance(layer, _PER_OUTPUT_POSITION):
            raise ValueError(f'cannot count the multiply-adds of {layer.name} ({type(layer).__name__})')
        positions = math.prod(layer.output.shape[1:-1])
        total += positions * math.prod(layer.kernel.shape)
    return int(total)


def model_cost(model):
    """{'parameters': ..., 'multiply_adds': ...} per image."""
    return {'parameters': int(model.count_params()), 'multiply_adds': multiply_adds(model)}

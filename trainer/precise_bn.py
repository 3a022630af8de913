"""Precise BatchNorm statistics: the population mean and variance of each BatchNormalization layer,
recomputed for the current weights over many training batches.

The moving averages Keras keeps are updated during training while the weights change under them (the
docs/model.md's "BatchNorm gap" says what that does here), and with Dropout in front of a BatchNormalization
layer (the reference CNN) they are collected on dropped-out activations that inference never sees. Either way
validation can collapse although the weights are fine. Recomputing the statistics with the weights frozen
and Dropout off ("PreciseBN", Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021) gives inference the
statistics of the model it runs.
"""
import keras
import numpy as np
import tensorflow as tf


def _layers(model, kind):
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, kind)]  # pylint: disable=protected-access


def recalibrate(model, dataset, steps):
    """Replaces every BatchNormalization layer's moving mean and variance of `model` (any Keras model:
    Sequential, or a functional graph with residual adds) by their exact average over `steps` batches of
    `dataset` (images, labels).

    The model runs in training mode with every Dropout rate set to 0, so each BatchNorm layer sees the
    activations inference sees and normalises with its batch statistics, as in training. With momentum 0
    each forward pass leaves one batch's statistics in the moving mean and variance, which are summed here and
    averaged at the end. The pass is a `tf.function`: an eager call of the model costs about ten times more,
    and was most of a short training epoch. No weight changes: there is no optimizer step. Momenta and Dropout
    rates are restored afterwards.
    """
    batch_norms = _layers(model, keras.layers.BatchNormalization)
    dropouts = _layers(model, keras.layers.Dropout)
    momenta, rates = [layer.momentum for layer in batch_norms], [layer.rate for layer in dropouts]
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for layer in batch_norms:
            layer.momentum = 0.0
        forward = tf.function(lambda images: model(images, training=True), reduce_retracing=True)
        means = [np.zeros(layer.moving_mean.shape, np.float64) for layer in batch_norms]
        variances = [np.zeros(layer.moving_variance.shape, np.float64) for layer in batch_norms]
        batches = 0
        for images, _ in dataset.take(steps):
            forward(images)
            batches += 1
            for layer, mean, variance in zip(batch_norms, means, variances):
                mean += layer.moving_mean.numpy()
                variance += layer.moving_variance.numpy()
        for layer, mean, variance in zip(batch_norms, means, variances):
            if batches:
                layer.moving_mean.assign(mean / batches)
                layer.moving_variance.assign(variance / batches)
    finally:
        for layer, momentum in zip(batch_norms, momenta):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate


class PreciseValidation(keras.callbacks.Callback):
    """At each epoch's end: recalibrates the BatchNorm statistics, then validates and adds `val_loss` and
    `val_accuracy` to the epoch's logs. Listed first, so checkpointing, early stopping and the CSV log see
    validation figures of the model as it will be served."""

    def __init__(self, recalibration_data, validation_data, steps):
        super().__init__()
        self._recalibration_data, self._validation_data, self._steps = recalibration_data, validation_data, steps

    def on_epoch_end(self, epoch, logs=None):
        recalibrate(self.model, self._recalibration_data, self._steps)
        results = self.model.evaluate(self._validation_data, verbose=0, return_dict=True)
        logs.update({f'val_{name}': value for name, value in results.items()})

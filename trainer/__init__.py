"""tf.data input, the Keras model, training, evaluation and export (see the trainer issue)."""

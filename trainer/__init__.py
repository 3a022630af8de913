"""tf.data input, the Keras models and their training recipes, training, evaluation and export."""

"""Model architectures, by name. `--model fused` (the default) reads the image and the display name and predicts
the articleType (the full-labels model); `--model resnet` is the small residual CNN it grows from, predicting the
Class from the image alone; `--model seed_cnn` is the reference CNN (the original notebook's model), exactly."""
import keras
import tensorflow as tf
from keras import layers

from trainer import features

# Keras' default, as the reference notebook had. Its moving averages need thousands of steps to settle: a run of a few
# hundred steps (a small catalog) evaluates far below its training accuracy unless it uses e.g. 0.9.
BN_MOMENTUM = 0.99


def seed_cnn(num_classes, channels=3, bn_momentum=BN_MOMENTUM):
    """The reference CNN (the original notebook's model): two conv blocks (32, 64 filters), a 512-unit dense
    layer, softmax.

    For 30 classes on 80x60x3 it has 9,914,686 parameters (9,913,278 trainable).
    """
    return keras.Sequential([
        keras.Input(shape=(features.IMAGE_HEIGHT, features.IMAGE_WIDTH, channels)),
        layers.Conv2D(32, 3, padding='same', activation='relu'),
        layers.BatchNormalization(momentum=bn_momentum),
        layers.Conv2D(32, 3, padding='same', activation='relu'),
        layers.BatchNormalization(momentum=bn_momentum),
        layers.MaxPooling2D(),
        layers.Dropout(0.2),
        layers.Conv2D(64, 3, padding='same', activation='relu'),
        layers.BatchNormalization(momentum=bn_momentum),
        layers.Conv2D(64, 3, padding='same', activation='relu'),
        layers.BatchNormalization(momentum=bn_momentum),
        layers.MaxPooling2D(),
        layers.Dropout(0.2),
        layers.Flatten(),
        layers.Dense(512, activation='relu'),
        layers.BatchNormalization(momentum=bn_momentum),
        layers.Dropout(0.25),
        layers.Dense(num_classes, activation='softmax', dtype='float32'),
    ], name='seed_cnn')


def _conv_bn(x, width, strides, bn_momentum, kernel_size=3, zero_gamma=False):
    x = layers.Conv2D(width, kernel_size, strides=strides, padding='same', use_bias=False)(x)
    return layers.BatchNormalization(momentum=bn_momentum, gamma_initializer='zeros' if zero_gamma else 'ones')(x)


def _residual_block(x, width, strides, bn_momentum):
    """ResNet's basic block. Its last BatchNorm starts at zero, so each block starts as the identity and
    a deep net trains like a shallow one at first (Goyal et al., 2017)."""
    shortcut = x
    if strides != 1 or x.shape[-1] != width:
        shortcut = _conv_bn(x, width, strides, bn_momentum, kernel_size=1)
    x = layers.ReLU()(_conv_bn(x, width, strides, bn_momentum))
    x = _conv_bn(x, width, 1, bn_momentum, zero_gamma=True)
    return layers.ReLU()(layers.Add()([shortcut, x]))


RESNET_WIDTHS = (16, 64, 128, 256)


def resnet_trunk(inputs, bn_momentum, widths=RESNET_WIDTHS, blocks=(1, 2, 2, 1)):
    """The residual CNN up to its global average pool: images in [0, 1] -> a `widths[-1]`-wide embedding."""
    x = layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = layers.ReLU()(_conv_bn(x, widths[0], 2, bn_momentum))
    for stage, (width, count) in enumerate(zip(widths, blocks)):
        for block in range(count):
            x = _residual_block(x, width, 2 if stage and not block else 1, bn_momentum)
    return layers.GlobalAveragePooling2D()(x)


def resnet(num_classes, channels=3, bn_momentum=0.9, widths=RESNET_WIDTHS, blocks=(1, 2, 2, 1), dropout=0.1):
    """A small residual CNN for 80x60 product photos.

    Why this shape: a stride-2 stem takes the 80x60 image to 40x30 at once, where a photo of one product
    on a plain background still shows its outline; the first stage stays at one block of 16 channels, as
    it is the costliest per block (at 32 it costs a fifth more multiply-adds: docs/model.md, training speed).
    Each later stage halves the resolution and widens, to 64, 128 and then 256 channels at 5x4; the two middle
    stages (20x15 and 10x8) get two blocks each, where depth is cheap and the confusable classes (Topwear /
    Tshirts, Sandal / Flip Flops) are told apart by shape detail. The
    capacity the reference CNN kept in a 9.8M-parameter Dense layer over a 19,200-wide flatten is here spread over
    convolutions, and global average pooling leaves a 256-wide head. With one block a stage the net
    underfit the real catalog (train accuracy 0.957 after 12 epochs, BENCHMARKS.md). Pixels come in as [0, 1] (as
    for the reference CNN) and are centred to [-1, 1] in the model, so the stem's BatchNorm does not start from a
    large mean (docs/model.md: the BatchNorm gap).
    """
    inputs = keras.Input(shape=(features.IMAGE_HEIGHT, features.IMAGE_WIDTH, channels))
    x = layers.Dropout(dropout)(resnet_trunk(inputs, bn_momentum, widths, blocks))
    outputs = layers.Dense(num_classes, activation='softmax', dtype='float32')(x)
    return keras.Model(inputs, outputs, name='resnet')


NAME_MAX_CHARS = 200
WORD_VOCABULARY = 20_000
CHAR_VOCABULARY = 30_000
NAME_WIDTH = 128  # the name layer: 256 cost 1.59x the image-only net's training step for no name accuracy
JOINT_WIDTH = 256  # the layer under the fused head
MODALITY_DROPOUT = 0.2


@keras.saving.register_keras_serializable(package='fashion_pipeline')
class CleanName(layers.Layer):
    """A raw display name -> text the vectorizers can read: bytes that are not UTF-8 become U+FFFD, and the name is
    cut at `max_chars` characters (catalog names run to about 100), so garbage and a 10,000-character name cost
    what a normal one does."""

    def __init__(self, max_chars=NAME_MAX_CHARS, **kwargs):
        super().__init__(**kwargs)
        self.max_chars = max_chars

    def call(self, names):
        names = tf.strings.unicode_transcode(names, 'UTF-8', 'UTF-8', errors='replace')
        return tf.strings.substr(names, 0, self.max_chars, unit='UTF8_CHAR')

    def get_config(self):
        return {**super().get_config(), 'max_chars': self.max_chars}


@keras.saving.register_keras_serializable(package='fashion_pipeline')
class ModalityDropout(layers.Layer):
    """While training, drops one modality's embedding of an item (sets it to zeros) with probability `rate`
    each, never both, so the fused head learns to answer from either alone. An empty name embeds as zeros
    too (the name branch has no bias), so at serving an item without a name is what training showed it."""

    def __init__(self, rate=MODALITY_DROPOUT, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        image, name = inputs
        if not training or not self.rate:
            return image, name
        draw = keras.random.uniform((tf.shape(image)[0], 1), seed=self._generator)
        keep_image = tf.cast(draw >= self.rate, image.dtype)
        keep_name = tf.cast((draw < self.rate) | (draw >= 2 * self.rate), name.dtype)
        return image * keep_image, name * keep_name

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), 'rate': self.rate, 'seed': self.seed}


NAME_NGRAMS = {  # the name baseline's features (benchmarks/name_baseline.py): word 1-2 grams, character 3-5 grams
    'name_words': {'standardize': 'lower_and_strip_punctuation', 'ngrams': 2},
    'name_chars': {'standardize': 'lower', 'split': 'character', 'ngrams': (3, 4, 5)},
}


@keras.saving.register_keras_serializable(package='fashion_pipeline')
class TfIdf(layers.Layer):
    """Sparse n-gram counts of a batch of names (TextVectorization layers' `count` output, sparse) -> one
    L2-normalised TF-IDF SparseTensor over their vocabularies side by side, with dropout on its non-zero entries
    while training: what TextVectorization(output_mode='tf_idf') + Concatenate + UnitNormalization + Dropout
    compute, without a dense 50,000-wide row per name (a name has a few hundred n-grams). Keras 3.15's own sparse
    `tf_idf` output fails (it multiplies the sparse counts by the idf vector with a dense op), hence this layer;
    `idf` holds the fitted inverse document frequencies, saved with the model."""

    def __init__(self, size, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.size, self.rate, self.seed = size, rate, seed
        self.idf = self.add_weight(shape=(size,), initializer='ones', trainable=False, name='idf')
        self._generator = keras.random.SeedGenerator(seed)

    def call(self, counts, training=None):
        counts = tf.sparse.concat(1, [tf.cast(part, 'float32') for part in counts])
        rows, columns = counts.indices[:, 0], counts.indices[:, 1]
        values = counts.values * tf.gather(tf.cast(self.idf, 'float32'), columns)
        norms = tf.math.unsorted_segment_sum(tf.square(values), rows, counts.dense_shape[0])
        values = values * tf.math.rsqrt(tf.maximum(tf.gather(norms, rows), 1e-12))
        if training and self.rate:
            values = keras.random.dropout(values, self.rate, seed=self._generator)
        return tf.SparseTensor(counts.indices, tf.cast(values, self.compute_dtype), counts.dense_shape)

    def compute_output_spec(self, counts, training=None):
        return keras.KerasTensor((counts[0].shape[0], self.size), self.compute_dtype, sparse=True)

    def get_config(self):
        return {**super().get_config(), 'size': self.size, 'rate': self.rate, 'seed': self.seed}


def name_vectorizers(names, word_vocabulary=WORD_VOCABULARY, char_vocabulary=CHAR_VOCABULARY, dropout=0.0):
    """The name's n-gram counters and their TF-IDF, fitted on `names` (the training split's): (words, chars,
    tf_idf), Keras layers that the SavedModel carries. Keras' `tf_idf` layers fit the vocabularies and the
    inverse document frequencies; the model counts with sparse copies of them (TfIdf)."""
    cleaned = CleanName()(tf.constant(list(names) or ['untitled product'], tf.string))  # (an empty vocabulary fails)
    counters, idf = [], []
    for (layer_name, ngrams), size in zip(NAME_NGRAMS.items(), (word_vocabulary, char_vocabulary)):
        fitted = layers.TextVectorization(size, output_mode='tf_idf', **ngrams)
        fitted.adapt(cleaned, batch_size=1024)
        idf.append(fitted._lookup_layer.idf_weights)  # pylint: disable=protected-access  (no public getter)
        counters.append(layers.TextVectorization(vocabulary=fitted.get_vocabulary(), output_mode='count',
                                                 sparse=True, name=layer_name, **ngrams))
    idf = tf.concat(idf, 0)
    tf_idf = TfIdf(int(idf.shape[0]), dropout, name='name_tf_idf')
    tf_idf.idf.assign(idf)
    return (*counters, tf_idf)


@keras.saving.register_keras_serializable(package='fashion_pipeline')
class Distillation(layers.Layer):
    """While training, adds `weight` times the cross-entropy of a student head's probabilities against a teacher
    head's, held fixed (no gradient reaches the teacher), to the model's loss; passes the student's through. The
    image head learns from the fused head's soft predictions as well as from the given labels: which types look
    alike, and which given labels the fused head doubts."""

    def __init__(self, weight, **kwargs):
        super().__init__(**kwargs)
        self.weight = weight

    def call(self, inputs, training=None):
        teacher, student = inputs
        if training:
            target = keras.ops.stop_gradient(teacher)
            self.add_loss(self.weight * keras.ops.mean(keras.losses.categorical_crossentropy(target, student)))
        return student

    def get_config(self):
        return {**super().get_config(), 'weight': self.weight}


def name_branch(name, names, word_vocabulary=WORD_VOCABULARY, char_vocabulary=CHAR_VOCABULARY,
                name_width=NAME_WIDTH, dropout=0.1):
    """A display name (a string tensor) -> its `name_width`-wide embedding: the L2-normalised TF-IDF of its
    n-grams through one ReLU layer without a bias, so an empty name embeds as zeros."""
    words, chars, tf_idf = name_vectorizers(names, word_vocabulary, char_vocabulary, dropout)
    cleaned = CleanName()(name)
    return layers.Dense(name_width, activation='relu', use_bias=False, name='name_embedding')(
        tf_idf([words(cleaned), chars(cleaned)]))


def fused(num_leaves, channels=3, bn_momentum=0.9, names=(), widths=RESNET_WIDTHS, blocks=(1, 2, 2, 1),
          dropout=0.1, modality_dropout=MODALITY_DROPOUT, word_vocabulary=WORD_VOCABULARY,
          char_vocabulary=CHAR_VOCABULARY, name_width=NAME_WIDTH, distillation=0.0, attributes=None):
    """The full-labels model: the image through the residual trunk, the display name through TF-IDF features
    and one ReLU layer, and three softmax heads over the articleType leaves (rules/leaves.py): `fused` reads
    both, `image_only` and `name_only` each one alone (what each piece of evidence says, for the flags' evidence and the
    audit). `names` are the training split's names, for the text vocabularies. With `distillation`, the image
    head also learns the fused head's probabilities (Distillation). `attributes` ({attribute: number of values},
    rules/attributes.py) adds the same three heads for each attribute, on the same embeddings
    (attribute_output names them): one trunk, one training."""
    image = keras.Input(shape=(features.IMAGE_HEIGHT, features.IMAGE_WIDTH, channels), name='image')
    name = keras.Input(shape=(), dtype='string', name='name')
    image_embedding = resnet_trunk(image, bn_momentum, widths, blocks)
    name_embedding = name_branch(name, names, word_vocabulary, char_vocabulary, name_width, dropout)
    both = layers.Concatenate()(list(ModalityDropout(modality_dropout)([image_embedding, name_embedding])))
    joint = layers.Dropout(dropout)(layers.Dense(JOINT_WIDTH, activation='relu')(both))
    heads = {
        'fused': joint,
        'image_only': layers.Dropout(dropout)(image_embedding),
        'name_only': name_embedding,
    }
    outputs = {head: layers.Dense(num_leaves, activation='softmax', dtype='float32', name=head)(x)
               for head, x in heads.items()}
    for attribute, size in (attributes or {}).items():
        outputs.update({attribute_output(attribute, head): layers.Dense(
            size, activation='softmax', dtype='float32', name=attribute_output(attribute, head))(x)
            for head, x in heads.items()})
    if distillation:
        outputs['image_only'] = Distillation(distillation, dtype='float32', name='image_only_distilled')(
            [outputs['fused'], outputs['image_only']])
    return keras.Model({'image': image, 'name': name}, outputs, name='fused')


MODELS = {'fused': fused, 'resnet': resnet, 'seed_cnn': seed_cnn}
DEFAULT_MODEL = 'fused'
FULL_LABELS = ('fused',)  # models that predict articleType leaves from the image and the name
HEADS = ('fused', 'image_only', 'name_only')
ATTRIBUTE_LOSS_WEIGHT = 0.5  # each attribute head's share of the loss, against 1 for each articleType head


def attribute_output(attribute, head):
    """The full-labels model's output for one attribute's head: gender_fused, baseColour_image_only, ..."""
    return f'{attribute}_{head}'


def build(name, num_outputs, channels=3, bn_momentum=BN_MOMENTUM, names=(), **architecture):
    """A fresh model `name`; a full-labels model's text vocabularies are fitted on `names` (the training split's)."""
    if name in FULL_LABELS:
        architecture['names'] = names
    return MODELS[name](num_outputs, channels, bn_momentum, **architecture)

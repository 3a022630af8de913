"""Model architectures, by name. `--model resnet` (the default) is a small residual CNN; `--model seed_cnn` is
the reference CNN (the original notebook's model), exactly."""
import keras
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
    x = layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = layers.ReLU()(_conv_bn(x, widths[0], 2, bn_momentum))
    for stage, (width, count) in enumerate(zip(widths, blocks)):
        for block in range(count):
            x = _residual_block(x, width, 2 if stage and not block else 1, bn_momentum)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation='softmax', dtype='float32')(x)
    return keras.Model(inputs, outputs, name='resnet')


MODELS = {'resnet': resnet, 'seed_cnn': seed_cnn}
DEFAULT_MODEL = 'resnet'

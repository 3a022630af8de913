"""Model architectures, by name: `--model seed_cnn` is the seed report's CNN, exactly."""
import keras
from keras import layers

from trainer import features

# Keras' default, as the seed had. Its moving averages need thousands of steps to settle: a run of a few
# hundred steps (a small catalog) evaluates far below its training accuracy unless it uses e.g. 0.9.
BN_MOMENTUM = 0.99


def seed_cnn(num_classes, channels=3, bn_momentum=BN_MOMENTUM):
    """The seed's CNN: two conv blocks (32, 64 filters), a 512-unit dense layer, softmax.

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
        layers.Dense(num_classes, activation='softmax'),
    ], name='seed_cnn')


MODELS = {'seed_cnn': seed_cnn}
MODEL_FILE = 'model.keras'


def build(name, num_classes, channels, learning_rate=1e-3, bn_momentum=BN_MOMENTUM):
    """A compiled model: Adam and sparse categorical cross-entropy, as the seed trained."""
    model = MODELS[name](num_classes, channels, bn_momentum)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    return model

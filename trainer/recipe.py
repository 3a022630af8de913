"""How each model trains: optimizer, learning-rate schedule, regularisation and augmentation, as flags of
`fashion-pipeline train` whose defaults depend on `--model` (the RECIPES table below).

The reference CNN keeps the original notebook's recipe (Adam at a constant 1e-3, flips only, batch 32). The residual net
trains as small image classifiers from scratch train well in few epochs (ResNet, airbench): AdamW with
decoupled weight decay, a linear warmup then cosine decay to zero, label smoothing, and flips plus a small
random translation; the whole schedule runs, so early stopping is off.
"""
import dataclasses
import math

import keras
import tensorflow as tf

from trainer import features, model as model_lib, precision


@dataclasses.dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    optimizer: str          # 'adam' | 'adamw'
    learning_rate: float    # the peak learning rate
    lr_schedule: str        # 'constant' | 'cosine'
    warmup_fraction: float  # share of all steps spent warming up linearly from 0 to the peak
    weight_decay: float     # AdamW's decoupled decay (not applied to BatchNorm parameters and biases)
    label_smoothing: float
    translate: int          # random shift of up to this many pixels each way; 0 = flips only
    ema_momentum: float     # an exponential moving average of the weights is validated and kept; 0 = off
    bn_momentum: float
    patience: int           # epochs without a val accuracy gain before stopping; 0 = run every epoch
    precision: str          # 'auto' | 'float32' | 'mixed_bfloat16' (trainer/precision.py)
    distillation: float = 0.0       # full-labels model: weight of the image head's loss against the fused head's
    image_loss_weight: float = 1.0  # full-labels model: the image head's share of the loss (the others' is 1)


RECIPES = {
    'seed_cnn': Recipe(epochs=15, batch_size=32, optimizer='adam', learning_rate=1e-3, lr_schedule='constant',
                       warmup_fraction=0.0, weight_decay=0.0, label_smoothing=0.0, translate=0,
                       ema_momentum=0.0, bn_momentum=0.99, patience=4, precision='float32'),
    'resnet': Recipe(epochs=11, batch_size=64, optimizer='adamw', learning_rate=3e-3, lr_schedule='cosine',
                     warmup_fraction=0.1, weight_decay=5e-4, label_smoothing=0.1, translate=3,
                     ema_momentum=0.0, bn_momentum=0.9, patience=0, precision='auto'),
}
# Its image trunk is the residual net, and the name branch trains as fast; the image head also learns from the fused
# head (docs/model.md, "Heads and modality dropout").
RECIPES['fused'] = dataclasses.replace(RECIPES['resnet'], distillation=1.0)

_HELP = {
    'epochs': 'epochs to train',
    'batch_size': 'images per training step',
    'optimizer': 'adam or adamw',
    'learning_rate': 'peak learning rate',
    'lr_schedule': 'constant, or cosine: linear warmup, then cosine decay to 0 over the remaining steps',
    'warmup_fraction': 'share of all steps spent warming up (cosine schedule)',
    'weight_decay': 'decoupled weight decay (adamw; BatchNorm parameters and biases are not decayed)',
    'label_smoothing': 'label smoothing of the cross-entropy',
    'translate': 'augmentation: random shift of up to N pixels each way, on top of left-right flips (0: flips only)',
    'ema_momentum': 'validate and keep an exponential moving average of the weights with this momentum (0: off)',
    'bn_momentum': "BatchNormalization momentum (Keras' moving averages; validation recomputes the statistics, "
                   'see --precise-bn-steps)',
    'patience': 'stop after this many epochs without a val accuracy gain (0: run every epoch)',
    'precision': 'compute precision while training; auto: mixed_bfloat16 on a CPU with native bfloat16 '
                 'instructions and no GPU, else float32. The model is saved and exported in float32',
    'distillation': "full-labels model: the image head also learns the fused head's probabilities (held fixed), "
                    'with this weight against its given-label loss (0: off)',
    'image_loss_weight': "full-labels model: the image head's loss weight; the fused and name heads' is 1",
}
_CHOICES = {'optimizer': ('adam', 'adamw'), 'lr_schedule': ('constant', 'cosine'), 'precision': precision.CHOICES}


def add_flags(parser):
    """One flag per Recipe field, default None: `resolve` fills in the model's value."""
    group = parser.add_argument_group(
        'training recipe', 'Defaults depend on --model; per model: ' + '; '.join(
            f'{name}: ' + ', '.join(f'{field.replace("_", "-")} {value}' for field, value in
                                    dataclasses.asdict(recipe).items()) for name, recipe in RECIPES.items()))
    for field in dataclasses.fields(Recipe):
        group.add_argument(f'--{field.name.replace("_", "-")}', type=field.type, default=None,
                           choices=_CHOICES.get(field.name), help=f'{_HELP[field.name]} (default: per --model)')


def resolve(args):
    """The model's recipe with every flag the user gave in place of its default."""
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(Recipe)
             if getattr(args, field.name) is not None}
    return dataclasses.replace(RECIPES[args.model], **given)


def check(recipe):
    """A one-line reason the recipe cannot train, or None."""
    if recipe.epochs < 1 or recipe.batch_size < 1:
        return '--epochs and --batch-size must be at least 1'
    if recipe.learning_rate <= 0 or recipe.weight_decay < 0 or recipe.translate < 0 or recipe.patience < 0:
        return '--learning-rate must be positive; --weight-decay, --translate and --patience at least 0'
    if not 0 <= recipe.warmup_fraction < 1 or not 0 <= recipe.label_smoothing < 1:
        return '--warmup-fraction and --label-smoothing must be in [0, 1)'
    if not 0 <= recipe.ema_momentum < 1 or not 0 < recipe.bn_momentum < 1:
        return '--ema-momentum must be in [0, 1), --bn-momentum in (0, 1)'
    if recipe.distillation < 0 or recipe.image_loss_weight <= 0:
        return '--distillation must be at least 0, --image-loss-weight positive'
    return None


def compiled_model(name, num_classes, channels, recipe, total_steps, policy='float32', architecture=None):
    """A fresh model `name` (with the model function's keyword arguments `architecture`) computing under dtype
    policy `policy`, compiled to train with `recipe` over `total_steps` steps."""
    architecture = dict(architecture or {})
    if name in model_lib.FULL_LABELS and recipe.distillation:
        architecture['distillation'] = recipe.distillation
    with precision.policy(policy):
        model = model_lib.build(name, num_classes, channels, recipe.bn_momentum, **architecture)
    if name in model_lib.FULL_LABELS:  # every head learns the leaves; the fused head's accuracy picks the epoch
        weights = {head: recipe.image_loss_weight if head == 'image_only' else 1.0 for head in model_lib.HEADS}
        losses = {head: loss(recipe) for head in model_lib.HEADS}
        for attribute in architecture.get('attributes') or {}:  # each attribute's heads; a missing value counts not
            for head in model_lib.HEADS:
                losses[model_lib.attribute_output(attribute, head)] = SparseSmoothedCrossentropy(recipe.label_smoothing)
                weights[model_lib.attribute_output(attribute, head)] = model_lib.ATTRIBUTE_LOSS_WEIGHT
        model.compile(optimizer=optimizer(recipe, total_steps), loss=losses, loss_weights=weights,
                      metrics={'fused': ['accuracy']})
    else:
        model.compile(optimizer=optimizer(recipe, total_steps), loss=loss(recipe), metrics=['accuracy'])
    return model


def steps_per_epoch(recipe, train_examples):
    return math.ceil(train_examples / recipe.batch_size)


def learning_rate(recipe, total_steps):
    if recipe.lr_schedule == 'constant':
        return recipe.learning_rate
    warmup = int(total_steps * recipe.warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(0.0, max(total_steps - warmup, 1), warmup_target=recipe.learning_rate,
                                                  warmup_steps=warmup)


def optimizer(recipe, total_steps):
    ema = {'use_ema': True, 'ema_momentum': recipe.ema_momentum} if recipe.ema_momentum else {}
    rate = learning_rate(recipe, total_steps)
    if recipe.optimizer == 'adam':
        return keras.optimizers.Adam(rate, **ema)
    adamw = keras.optimizers.AdamW(rate, weight_decay=recipe.weight_decay, **ema)
    adamw.exclude_from_weight_decay(var_names=['gamma', 'beta', 'bias'])
    return adamw


@keras.saving.register_keras_serializable(package='fashion_pipeline')
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy with label smoothing over class indices: the labels are made one-hot here, so the
    data and the accuracy metric keep class indices. (Keras' sparse loss has no label smoothing.) A label of -1
    (a missing attribute value) costs nothing."""

    def __init__(self, label_smoothing, name='sparse_smoothed_crossentropy', **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        one_hot = tf.one_hot(labels, tf.shape(y_pred)[-1])
        losses = keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)
        return losses * tf.cast(labels >= 0, losses.dtype)

    def get_config(self):
        return {**super().get_config(), 'label_smoothing': self.label_smoothing}


def loss(recipe):
    if not recipe.label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy()
    return SparseSmoothedCrossentropy(recipe.label_smoothing)


def augmentation(recipe, channels):
    """Training-only augmentation as Keras preprocessing layers, applied to batches in tf.data: a left-right
    flip (the reference notebook's), plus a shift of up to `translate` pixels that fills with the nearest edge pixels
    (catalog photos sit on a plain background)."""
    steps = [keras.layers.RandomFlip('horizontal')]
    if recipe.translate:
        steps.append(keras.layers.RandomTranslation(recipe.translate / features.IMAGE_HEIGHT,
                                                    recipe.translate / features.IMAGE_WIDTH, fill_mode='nearest'))
    return keras.Sequential([keras.Input((features.IMAGE_HEIGHT, features.IMAGE_WIDTH, channels)), *steps],
                            name='augmentation')

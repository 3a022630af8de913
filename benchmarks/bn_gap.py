"""Why Keras' BatchNorm moving averages validate far below the same weights with recomputed statistics.

    .venv/bin/python benchmarks/bn_gap.py --data PREPARED [--model resnet] [--steps 100,300,600]
                                          [--momentum 0.99,0.9] [--freeze-steps 300] [--output FILE.json]

Trains the model at a constant learning rate (its recipe's peak, the regime where the gap is widest) and,
at each checkpoint, without touching the training run's state, compares per BatchNorm layer:
- `ratio`: the statistics recomputed for the current weights (PreciseBN over 100 training batches)
  against Keras' moving averages: median over channels of recomputed variance / moving variance, and of
  |recomputed mean - moving mean| / recomputed std;
- `debiased`: the same ratio once the moving averages' starting point (mean 0, variance 1, still weighing
  momentum**step) is taken out: if only that start were the cause, this would be 1;
- validation accuracy on 2,048 val images with the moving averages, with the recomputed statistics, and
  with moving averages that kept running for --freeze-steps more training-mode batches with the weights
  frozen (learning rate 0): if the averages only trail weights that move, they catch up then.
"""
import argparse
import json
import time

import keras
import numpy as np

from trainer import data, precise_bn, recipe as recipes


def batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def statistics(model):
    return [(layer.moving_mean.numpy().copy(), layer.moving_variance.numpy().copy()) for layer in batch_norms(model)]


def set_statistics(model, stats):
    for layer, (mean, variance) in zip(batch_norms(model), stats):
        layer.moving_mean.assign(mean)
        layer.moving_variance.assign(variance)


def accuracy(model, images, labels):
    return float(np.mean(model.predict(images, batch_size=256, verbose=0).argmax(1) == labels))


def per_layer(moving, recomputed, momentum, step):
    rows = []
    start_weight = momentum ** step
    for (m_mean, m_var), (r_mean, r_var) in zip(moving, recomputed):
        debiased_var = (m_var - start_weight) / (1 - start_weight)
        rows.append({'var_ratio': float(np.median(r_var / m_var)),
                     'debiased_var_ratio': float(np.median(r_var / np.maximum(debiased_var, 1e-12))),
                     'mean_offset_std': float(np.median(np.abs(r_mean - m_mean) / np.sqrt(r_var)))})
    return rows


def probe(args, momentum, train_data, recalibration, val_images, val_labels, num_classes):
    keras.utils.set_random_seed(1)
    recipe = recipes.RECIPES[args.model]
    constant = recipes.dataclasses.replace(recipe, lr_schedule='constant', bn_momentum=momentum)
    model = recipes.compiled_model(args.model, num_classes, 3, constant, max(args.steps))
    checkpoints, done, out = sorted(args.steps), 0, []
    iterator = iter(train_data)
    for step in checkpoints:
        start = time.time()
        for _ in range(step - done):
            model.train_on_batch(*next(iterator))
        done = step
        moving = statistics(model)
        state = [v.numpy().copy() for v in [*model.weights, *model.optimizer.variables]]
        moving_accuracy = accuracy(model, val_images, val_labels)
        precise_bn.recalibrate(model, recalibration, 100)
        recomputed = statistics(model)
        recomputed_accuracy = accuracy(model, val_images, val_labels)
        set_statistics(model, moving)
        learning_rate = model.optimizer.learning_rate.numpy()
        model.optimizer.learning_rate.assign(0.0)
        for _ in range(args.freeze_steps):
            model.train_on_batch(*next(iterator))
        caught_up_accuracy = accuracy(model, val_images, val_labels)
        caught_up = per_layer(statistics(model), recomputed, momentum, step + args.freeze_steps)
        for variable, value in zip([*model.weights, *model.optimizer.variables], state):  # back to the run's state
            variable.assign(value)
        model.optimizer.learning_rate.assign(learning_rate)
        layers = per_layer(moving, recomputed, momentum, step)
        out.append({'momentum': momentum, 'step': step, 'val_accuracy_moving': moving_accuracy,
                    'val_accuracy_recomputed': recomputed_accuracy,
                    f'val_accuracy_after_{args.freeze_steps}_frozen_steps': caught_up_accuracy,
                    'layers': layers, 'layers_after_frozen_steps': caught_up})
        print(f'momentum {momentum} step {step}: val moving {moving_accuracy:.3f}, recomputed '
              f'{recomputed_accuracy:.3f}, after {args.freeze_steps} frozen steps {caught_up_accuracy:.3f}; '
              f'first BN var ratio {layers[0]["var_ratio"]:.2f} (debiased {layers[0]["debiased_var_ratio"]:.2f}, '
              f'after freezing {caught_up[0]["var_ratio"]:.2f}), deeper median '
              f'{np.median([r["var_ratio"] for r in layers[1:]]):.2f} ({time.time() - start:.0f} s)', flush=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True)
    parser.add_argument('--model', default='resnet')
    parser.add_argument('--steps', default='100,300,600')
    parser.add_argument('--momentum', default='0.99,0.9')
    parser.add_argument('--freeze-steps', type=int, default=300)
    parser.add_argument('--output')
    args = parser.parse_args()
    args.steps = [int(s) for s in args.steps.split(',')]
    _, classes = data.read_prepared(args.data)
    recipe = recipes.RECIPES[args.model]
    augment = recipes.augmentation(recipe, 3)
    train_data = data.make_dataset(args.data, 'train', 3, training=True, batch_size=recipe.batch_size,
                                   augment=augment).repeat()
    recalibration = data.make_dataset(args.data, 'train', 3, training=True, batch_size=recipe.batch_size,
                                      cache=False, seed=43, augment=augment)
    val = list(data.make_dataset(args.data, 'val', 3, batch_size=256).take(8))
    val_images, val_labels = np.concatenate([b[0] for b in val]), np.concatenate([b[1] for b in val])
    results = [row for m in args.momentum.split(',')
               for row in probe(args, float(m), train_data, recalibration, val_images, val_labels, len(classes))]
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()

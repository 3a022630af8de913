"""Training speed per lever: the residual net's training steps, images/s, with one lever changed at a time.

    .venv/bin/python benchmarks/training_levers.py --data PREPARED_DIR [--steps 150] [--output FILE.json]

Each lever runs in its own interpreter (own TensorFlow threads), on the same decoded training images held in
memory, as a cached epoch runs them (shuffle, the recipe's augmentation, its optimizer and batch size):
  - train_images_per_s: training steps, after 5 steps of warm-up;
  - precise_bn_images_per_s: PreciseBN's recalibration (a forward pass in training mode, trainer/precise_bn.py);
  - epoch_s: a cached epoch of the whole train split as the trainer runs it, modelled from the two rates (the
    training steps, then --precise-bn-steps recalibration batches; the validation pass is left out).
The training's real wall time (a first epoch that decodes every JPEG, validation, evaluation, export) comes
only from real trainings: benchmarks/train_real.sh.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

LEVERS = {
    'today (float32)': {'policy': 'float32', 'widths': (32, 64, 128, 256)},
    'mixed bfloat16': {'policy': 'mixed_bfloat16', 'widths': (32, 64, 128, 256)},
    'first stage 16 wide': {'policy': 'float32', 'widths': (16, 64, 128, 256)},
    'first stage 16 wide + bfloat16': {'policy': 'mixed_bfloat16', 'widths': (16, 64, 128, 256)},
}


def measure(data_dir, policy, widths, steps, precise_bn_steps):
    """One lever's figures (run in a child interpreter)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from trainer import cost, data, features, precise_bn, precision  # pylint: disable=import-outside-toplevel
    from trainer import model as model_lib, recipe as recipes  # pylint: disable=import-outside-toplevel
    manifest, classes = data.read_prepared(data_dir)
    train_examples = sum(json.loads(manifest)['class_counts']['train'].values())
    recipe = recipes.RECIPES['resnet']
    augment = recipes.augmentation(recipe, 3)
    decoded = data.make_dataset(data_dir, 'train', 3, batch_size=recipe.batch_size, cache=False)
    images, labels = [], []
    for batch_images, batch_labels in decoded.take(steps):
        images.append(tf.cast(tf.round(batch_images * 255), tf.uint8))
        labels.append(batch_labels)
    in_memory = tf.data.Dataset.from_tensor_slices((tf.concat(images, 0), tf.concat(labels, 0))).repeat()
    dataset = (in_memory.shuffle(4096, seed=1).batch(recipe.batch_size)
               .map(lambda x, y: (augment(features.rescale(x)), y), num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))
    with precision.policy(policy):
        model = model_lib.resnet(len(classes), 3, recipe.bn_momentum, widths=widths)
    model.compile(optimizer=recipes.optimizer(recipe, steps + 5), loss=recipes.loss(recipe), metrics=['accuracy'])
    model.fit(dataset.take(5), epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset.take(steps), epochs=1, verbose=0)
    train_rate = steps * recipe.batch_size / (time.perf_counter() - start)
    precise_bn.recalibrate(model, dataset, 3)
    start = time.perf_counter()
    precise_bn.recalibrate(model, dataset, precise_bn_steps)
    recalibration_rate = precise_bn_steps * recipe.batch_size / (time.perf_counter() - start)
    return {'train_images_per_s': train_rate, 'precise_bn_images_per_s': recalibration_rate,
            'train_examples': train_examples, **cost.model_cost(model)}


def epoch_seconds(figures, precise_bn_steps, batch_size=64):
    return (figures['train_examples'] / figures['train_images_per_s']
            + precise_bn_steps * batch_size / figures['precise_bn_images_per_s'])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data', required=True, help='a prepare output (the real catalog for the figures)')
    parser.add_argument('--steps', type=int, default=150)
    parser.add_argument('--precise-bn-steps', type=int, default=50, help='recalibration batches timed')
    parser.add_argument('--lever', action='append', choices=sorted(LEVERS), help='(default: all)')
    parser.add_argument('--output')
    parser.add_argument('--child')
    args = parser.parse_args(argv)
    if args.child:
        lever = LEVERS[args.child]
        print(json.dumps(measure(args.data, lever['policy'], lever['widths'], args.steps, args.precise_bn_steps)))
        return None
    from trainer import train  # pylint: disable=import-outside-toplevel
    results = {'cpu': train.cpu_model(), 'cores': os.cpu_count(), 'python': platform.python_version(),
               'steps': args.steps, 'levers': {}}
    for name in args.lever or LEVERS:
        output = subprocess.run([sys.executable, os.path.abspath(__file__), '--data', args.data, '--steps',
                                 str(args.steps), '--precise-bn-steps', str(args.precise_bn_steps), '--child', name],
                                check=True, capture_output=True, text=True).stdout
        figures = json.loads(output.strip().splitlines()[-1])
        figures['epoch_s'] = {n: round(epoch_seconds(figures, n), 1) for n in (150, 50)}
        results['levers'][name] = figures
        print(f'{name:32s} train {figures["train_images_per_s"]:6.1f} images/s, PreciseBN '
              f'{figures["precise_bn_images_per_s"]:6.1f} images/s, cached epoch {figures["epoch_s"][150]:.0f} s '
              f'(150 PreciseBN batches) / {figures["epoch_s"][50]:.0f} s (50); '
              f'{figures["multiply_adds"] / 1e6:.0f}M multiply-adds', flush=True)
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()

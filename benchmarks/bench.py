"""`make bench`: every stage against its reference and its limit, on this machine, into BENCHMARKS.md.

    .venv/bin/python benchmarks/bench.py [--catalog DIR] [--rows N] [--sizes 1,2,4] [--model-dir DIR ...]
                                         [--steps 200] [--work DIR] [--output BENCHMARKS.md]

Without --catalog a synthetic catalog of --rows rows (default 2,000) is generated; with the real one
(../shared/data/fashion-product-images-small) 1x is its 44,446 rows. Larger sizes replicate the rows under
new ids (images linked, not copied). Each comparison runs both sides in this invocation. A figure is the
median of 3 runs with min and max when one run takes under 2 minutes, else one run. Peak RSS is sampled
every 0.2 s and summed over the job's whole process tree (Beam workers too). Without --model-dir the
scoring stages use an untrained reference CNN: the same architecture, so the same inference cost.

The model table has a row per --model-dir (the first one is also the scoring stages' model): its cost,
training images/s over --steps steps with its own recipe, serving images/s through the score job, all
measured here side by side, and its epochs, wall time, test accuracy and val macro F1 read from the model
dir's own files (nothing is retrained). `--model-dir untrained:NAME` stands for an untrained model of
architecture NAME: its speed is measured, it has no accuracy.
"""
import argparse
import csv
import datetime
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

import label_noise  # a sibling script: benchmarks/ is on sys.path when bench.py runs
from pipelines import artifacts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
MULTI_PROCESSING = ['--direct_running_mode=multi_processing', '--direct_num_workers=2']
ONE_RUN_ABOVE_S = 120
NOTES = os.path.join(ROOT, 'benchmarks', 'bench_notes.md')  # by hand: what bounds each stage, appended
CURRENT = os.path.join(ROOT, 'benchmarks', 'current.json')  # by hand: today's figures measured outside bench.py
JUDGED = os.path.join(ROOT, 'schemas', 'judged.json')  # the judged sample's figures (benchmarks/judged/sample.py)


def run_measured(command, env=None, cwd=ROOT):
    """(wall seconds, peak RSS in MiB summed over the process tree, stdout) of one command."""
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - start
    output = process.stdout.read().decode('utf-8', 'replace')
    if process.returncode:
        raise RuntimeError(f'{" ".join(command)} exited {process.returncode}')
    return wall, peak / 2 ** 20, output


def add_tree_flag(parser):
    parser.add_argument('--tree', action='append', default=[], metavar='NAME=PATH',
                        help='a checkout of other code to compare with (e.g. a git worktree); repeatable')


def trees(args):
    """[(name, absolute path)] of each --tree, then ('after', this checkout)."""
    return [(name, os.path.abspath(path)) for name, path in (t.split('=', 1) for t in args.tree)] + [('after', ROOT)]


def run_in_tree(tree, cli_args):
    """`fashion-pipeline CLI_ARGS` run from TREE with TREE's own `pipelines` (PYTHONPATH): run_measured's figures."""
    env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL='2')
    return run_measured([sys.executable, '-m', 'pipelines.cli', *cli_args], env=env, cwd=tree)


def repeated(measure_once):
    """Runs `measure_once` (-> dict of figures) 3 times, or once when it takes over 2 minutes."""
    runs = [measure_once()]
    if runs[0]['wall_s'] < ONE_RUN_ABOVE_S:
        runs += [measure_once(), measure_once()]
    summary = {'runs': len(runs)}
    for key in runs[0]:
        values = [r[key] for r in runs]
        if isinstance(values[0], str):  # a setting, the same in every run
            summary[key] = values[0]
            continue
        summary[key] = {'median': statistics.median(values), 'min': min(values), 'max': max(values)}
    return summary


def child(stage, **kwargs):
    """Runs `stage` of this file in a fresh interpreter (own memory, own TensorFlow threads); its figures."""
    command = [sys.executable, os.path.abspath(__file__), '--child', stage, '--child-args', json.dumps(kwargs)]
    wall, peak, output = run_measured(command)
    return dict(json.loads(output.strip().splitlines()[-1]), wall_s=wall, peak_rss_mib=peak)


def _replicate(catalog_dir, factor, work):
    """A catalog of `factor` copies of every row, the copies under new ids, images linked."""
    if factor == 1:
        return catalog_dir
    target = os.path.join(work, f'catalog-{factor}x')
    if os.path.exists(os.path.join(target, 'styles.csv')):
        return target
    return linked_catalog(catalog_dir, factor, target)


def linked_catalog(source, factor, target):
    """TARGET/styles.csv with `factor` copies of each of SOURCE's rows (ids + copy * 10,000,000) and TARGET/images
    linked to SOURCE's images."""
    os.makedirs(os.path.join(target, 'images'), exist_ok=True)
    with open(os.path.join(source, 'styles.csv'), encoding='utf-8', newline='') as f:
        lines = f.read().splitlines()
    out = [lines[0]]
    for copy in range(factor):
        for line in lines[1:]:
            row_id, rest = line.split(',', 1)
            new_id = str(int(row_id) + copy * 10_000_000) if row_id.isdigit() else row_id
            out.append(f'{new_id},{rest}')
            image = os.path.join(source, 'images', f'{row_id}.jpg')
            if row_id.isdigit() and os.path.exists(image):
                link = os.path.join(target, 'images', f'{new_id}.jpg')
                if not os.path.exists(link):
                    os.symlink(os.path.abspath(image), link)
    with open(os.path.join(target, 'styles.csv'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(out) + '\n')
    return target


def _rows(catalog_dir):
    with open(os.path.join(catalog_dir, 'styles.csv'), encoding='utf-8') as f:
        return sum(1 for line in f if line.strip()) - 1


def _prepare_ours(catalog_dir, output):
    def once():
        subprocess.run(['rm', '-rf', output], check=True)
        wall, peak, _ = run_measured([os.path.join(BIN, 'fashion-pipeline'), 'prepare', '--catalog', catalog_dir,
                                      '--output', output, *MULTI_PROCESSING])
        return {'wall_s': wall, 'peak_rss_mib': peak}
    return once


def _prepare_reference(catalog_dir, output):
    def once():
        subprocess.run(['rm', '-rf', output], check=True)
        wall, peak, _ = run_measured([sys.executable, os.path.join(ROOT, 'benchmarks', 'reference_prepare.py'),
                                      '--catalog', catalog_dir, '--output', output])
        return {'wall_s': wall, 'peak_rss_mib': peak}
    return once


def _score_ours(catalog_dir, model, output):
    """The score job as it runs by default: Beam's in-memory DirectRunner, TensorFlow's own threads doing
    the inference (multi-processing would load one TensorFlow and one model per worker for no gain on 2
    cores: ~2.4 GiB summed on a small catalog)."""
    def once():
        subprocess.run(['rm', '-rf', output], check=True)
        wall, peak, _ = run_measured([os.path.join(BIN, 'fashion-pipeline'), 'score', '--catalog', catalog_dir,
                                      '--model', model, '--output', output])
        with open(os.path.join(output, artifacts.SUMMARY), encoding='utf-8') as f:
            scored = json.load(f)['scored']
        return {'wall_s': wall, 'peak_rss_mib': peak, 'images_per_s': scored / wall}
    return once


# Stages run in a child interpreter: each prints one JSON line of figures.

def stage_decode(catalog_dir, limit=4000):
    """JPEG decode rate from memory: PIL on one core, and tf.io.decode_jpeg inside tf.data (as the trainer
    runs it) on one core and on all cores: the ceiling of any stage that decodes every image."""
    import io  # pylint: disable=import-outside-toplevel

    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from PIL import Image  # pylint: disable=import-outside-toplevel
    folder = os.path.join(catalog_dir, 'images')
    blobs = []
    for name in sorted(os.listdir(folder))[:limit]:
        with open(os.path.join(folder, name), 'rb') as f:
            blobs.append(f.read())
    start = time.perf_counter()
    for blob in blobs:
        Image.open(io.BytesIO(blob)).load()
    pil = len(blobs) / (time.perf_counter() - start)
    jpegs = tf.data.Dataset.from_tensor_slices(tf.constant(blobs))

    def rate(dataset):
        for _ in dataset.take(1):
            pass
        start = time.perf_counter()
        for _ in dataset:
            pass
        return len(blobs) / (time.perf_counter() - start)

    one_core = tf.data.Options()
    one_core.threading.private_threadpool_size = 1
    one_core.threading.max_intra_op_parallelism = 1

    def decode(jpeg):
        return tf.shape(tf.io.decode_jpeg(jpeg, channels=3))

    tf_one = rate(jpegs.map(decode).batch(256).with_options(one_core))
    tf_all = rate(jpegs.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(256))
    return {'images': len(blobs), 'pil_images_per_s': pil, 'tf_images_per_s': tf_one,
            'tf_all_cores_images_per_s': tf_all}


def stage_input(prepared, catalog_dir, steps):
    """tf.data against the reference notebook's ImageDataGenerator, images/s: ours on its first epoch (decoding
    every JPEG)
    and on later ones (decoded images come from its in-memory cache)."""
    import pandas as pd  # pylint: disable=import-outside-toplevel
    from input_vs_training import images_per_second  # pylint: disable=import-outside-toplevel
    from tf_keras.preprocessing.image import ImageDataGenerator  # pylint: disable=import-outside-toplevel

    from trainer import data  # pylint: disable=import-outside-toplevel
    ours = images_per_second(data.make_dataset(prepared, 'train', 3, training=True, cache=False).repeat(), steps)
    cached_dataset = data.make_dataset(prepared, 'train', 3, training=True)
    for _ in cached_dataset:
        pass
    cached = images_per_second(cached_dataset.repeat(), steps)
    with open(os.path.join(catalog_dir, 'styles.csv'), encoding='utf-8', newline='') as f:
        rows = [r for r in csv.reader(f)][1:]
    frame = pd.DataFrame({'filename': [f'{r[0]}.jpg' for r in rows if r and r[0].isdigit()],
                          'class': [r[4] for r in rows if r and r[0].isdigit()]})
    frame = frame[[os.path.exists(os.path.join(catalog_dir, 'images', name)) for name in frame['filename']]]
    flow = ImageDataGenerator(rescale=1 / 255, horizontal_flip=True).flow_from_dataframe(
        frame, directory=os.path.join(catalog_dir, 'images'), x_col='filename', y_col='class',
        target_size=(80, 60), batch_size=data.BATCH_SIZE, shuffle=True, seed=42)
    next(flow)
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        images += len(next(flow)[0])
    reference = images / (time.perf_counter() - start)
    return {'ours_images_per_s': ours, 'ours_cached_images_per_s': cached, 'reference_images_per_s': reference}


def stage_training(prepared, steps):
    """Reference CNN training rate fed by tf.data against fed from decoded batches in memory."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from input_vs_training import training_images_per_second  # pylint: disable=import-outside-toplevel

    from trainer import data, recipe as recipes  # pylint: disable=import-outside-toplevel
    _, classes = data.read_prepared(prepared)
    pipeline = data.make_dataset(prepared, 'train', 3, training=True).repeat()
    model = recipes.compiled_model('seed_cnn', len(classes), 3, recipes.RECIPES['seed_cnn'], steps)
    fed = training_images_per_second(model, pipeline, steps)
    batches = list(pipeline.take(steps))
    in_memory = tf.data.Dataset.from_tensor_slices((tf.concat([b[0] for b in batches], 0),
                                                    tf.concat([b[1] for b in batches], 0)))
    memory = training_images_per_second(model, in_memory.batch(data.BATCH_SIZE).repeat(), steps)
    return {'fed_images_per_s': fed, 'memory_images_per_s': memory}


def stage_predict(catalog_dir, model_dir, limit=4000):
    """Plain model.predict over decoded in-memory batches: the scoring upper bound, images/s."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from trainer import features  # pylint: disable=import-outside-toplevel
    importlib.import_module('trainer.model')  # registers the full-labels model's name layers, which loading needs
    model = keras.models.load_model(os.path.join(model_dir, artifacts.MODEL_FILE), compile=False)
    folder = os.path.join(catalog_dir, 'images')
    files = sorted(os.listdir(folder))[:limit]
    images = tf.stack([features.preprocess(tf.io.read_file(os.path.join(folder, n)), 3) for n in files])
    inputs = images
    if os.path.exists(os.path.join(model_dir, artifacts.LEAVES)):  # a full-labels model reads the display name too
        names = _display_names(catalog_dir)
        inputs = {'image': images, 'name': tf.constant([names.get(n[:-len('.jpg')], '') for n in files])}
    model.predict(tf.nest.map_structure(lambda x: x[:64], inputs), batch_size=64, verbose=0)
    start = time.perf_counter()
    model.predict(inputs, batch_size=64, verbose=0)
    return {'images': len(files), 'images_per_s': len(files) / (time.perf_counter() - start)}


def _display_names(catalog_dir):
    """id -> productDisplayName of a catalog's styles.csv (its well-formed lines)."""
    with open(os.path.join(catalog_dir, artifacts.STYLES), encoding='utf-8', errors='replace') as f:
        rows = csv.reader(f)
        header = next(rows)
        return {r[0]: r[-1] for r in rows if len(r) == len(header)}


def stage_epoch(prepared):
    """One epoch of the reference CNN over the whole train split, as the trainer's first epoch runs (decoding
    every JPEG into the cache): wall s and images/s."""
    from trainer import data, recipe as recipes  # pylint: disable=import-outside-toplevel
    manifest, classes = data.read_prepared(prepared)
    images = sum(json.loads(manifest)['class_counts']['train'].values())
    model = recipes.compiled_model('seed_cnn', len(classes), 3, recipes.RECIPES['seed_cnn'], images)
    start = time.perf_counter()
    model.fit(data.make_dataset(prepared, 'train', 3, training=True), epochs=1, verbose=0)
    wall = time.perf_counter() - start
    return {'images': images, 'epoch_s': wall, 'images_per_s': images / wall}


def stage_untrained_model(prepared, model_dir, name='seed_cnn'):
    """An untrained model of architecture `name`, saved and exported like a trained one (same inference
    cost)."""
    from pipelines.rules import taxonomy  # pylint: disable=import-outside-toplevel
    from trainer import data, export, model as model_lib  # pylint: disable=import-outside-toplevel
    _, classes = data.read_prepared(prepared)
    model = model_lib.build(name, len(classes), 3)
    os.makedirs(model_dir, exist_ok=True)
    model.save(os.path.join(model_dir, artifacts.MODEL_FILE))
    path = export.export(model, export.image_endpoint(model, classes, 3, 1.0), os.path.join(model_dir, 'export'), {
        artifacts.LABELS: ''.join(f'{c}\n' for c in classes), artifacts.TAXONOMY: taxonomy.load().to_json(),
        artifacts.LINEAGE: '{"note": "untrained, for benchmarks"}'})
    return {'export': path}


def stage_model_training(prepared, name, steps):
    """Training images/s of architecture `name` with its own recipe (batch size, augmentation, optimizer),
    fed by the trainer's tf.data input, over `steps` steps; and its cost."""
    from input_vs_training import training_images_per_second  # pylint: disable=import-outside-toplevel

    from trainer import cost, data, model as model_lib, precision  # pylint: disable=import-outside-toplevel
    from trainer import recipe as recipes, train  # pylint: disable=import-outside-toplevel
    _, classes = data.read_prepared(prepared)
    recipe = recipes.RECIPES[name]
    leaves, names, attributes = (train.fit_leaves(prepared, classes) if name in model_lib.FULL_LABELS
                                 else (None, (), None))
    pipeline = data.make_dataset(prepared, 'train', 3, training=True, batch_size=recipe.batch_size,
                                 augment=recipes.augmentation(recipe, 3), leaves=leaves,
                                 attributes=attributes).repeat()
    policy = precision.resolve(recipe.precision)
    model = recipes.compiled_model(name, len(leaves.article_types) if leaves else len(classes), 3, recipe,
                                   steps + 5, policy, {'names': names, 'attributes': {
                                       a: len(v) for a, v in attributes.values.items()}} if leaves else None)
    return {'images_per_s': training_images_per_second(model, pipeline, steps), 'precision': policy,
            **cost.model_cost(model)}


CHILD_STAGES = {'decode': stage_decode, 'input': stage_input, 'training': stage_training,
                'predict': stage_predict, 'epoch': stage_epoch, 'untrained_model': stage_untrained_model,
                'model_training': stage_model_training}


def machine():
    import apache_beam  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    cpu = next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo', encoding='utf-8')
                if line.startswith('model name')), platform.processor())
    return {'cores': os.cpu_count(), 'cpu': cpu, 'memory_gib': round(psutil.virtual_memory().total / 2 ** 30, 1),
            'python': platform.python_version(), 'apache_beam': apache_beam.__version__,
            'tensorflow': tf.__version__, 'date': datetime.date.today().isoformat(),
            'load_average_at_start': os.getloadavg()}


def ratio(a, b):
    return round(a / b, 3) if b else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--catalog', help='a catalog folder (default: a synthetic one of --rows rows)')
    parser.add_argument('--rows', type=int, default=2000)
    parser.add_argument('--sizes', default='1,2,4', help='catalog sizes to measure memory and scaling at')
    parser.add_argument('--model-dir', action='append', default=[],
                        help='a trained model dir, or untrained:NAME; repeat it for the model table '
                             '(default: an untrained reference CNN)')
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--no-epoch', action='store_true', help='skip the one-epoch training run (~15 min at 1x)')
    parser.add_argument('--work', help='scratch folder (default: a temporary one)')
    parser.add_argument('--output', default=os.path.join(ROOT, 'BENCHMARKS.md'))
    parser.add_argument('--markdown-only', action='store_true',
                        help='only rewrite --output from the JSON beside it (after editing the notes)')
    parser.add_argument('--only', choices=('prepare', 'score', 'models', 'flags'),
                        help='re-measure only this job (its comparison and its sizes; for models, the model table '
                             'and the reference CNN epoch it is compared with), keeping the other figures of the JSON '
                             'beside --output; flags: the mislabel flags against injected noise, label_noise.py)')
    parser.add_argument('--child')
    parser.add_argument('--child-args')
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILD_STAGES[args.child](**json.loads(args.child_args))))
        return None
    json_path = os.path.splitext(args.output)[0] + '.json'
    if args.markdown_only:
        with open(json_path, encoding='utf-8') as f:
            results = json.load(f)
        with open(args.output, 'w', encoding='utf-8') as f:
            f.write(markdown(results))
        return results
    work = args.work or tempfile.mkdtemp(prefix='bench-')
    catalog_dir = args.catalog
    if not catalog_dir:
        catalog_dir = os.path.join(work, 'synthetic')
        if not os.path.exists(os.path.join(catalog_dir, 'styles.csv')):
            subprocess.run([os.path.join(BIN, 'fashion-pipeline'), 'synth', '--output', catalog_dir, '--rows',
                            str(args.rows), '--seed', '1'], check=True, stdout=subprocess.DEVNULL)
    sizes = [int(s) for s in args.sizes.split(',')]
    if args.only:
        with open(json_path, encoding='utf-8') as f:
            results = json.load(f)
        if results['catalog'] != os.path.abspath(catalog_dir):
            sys.exit(f'--only re-measures the run of {json_path}, on {results["catalog"]}: pass that --catalog')
        again = machine()
        results.setdefault('remeasured', {})[args.only] = {
            'date': again['date'], 'load_average_at_start': again['load_average_at_start'], 'cpu': again['cpu'],
            'model_dirs': args.model_dir}
    else:
        results = {'machine': machine(), 'catalog': os.path.abspath(catalog_dir), 'work': work, 'steps': args.steps,
                   'model_dir': args.model_dir[0] if args.model_dir else None, 'sizes': {}}

    def save():
        with open(json_path, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)
        with open(args.output, 'w', encoding='utf-8') as f:
            f.write(markdown(results))

    def wanted(job):
        return args.only in (None, job)

    prepared = os.path.join(work, 'prepared-1x')
    if wanted('prepare'):
        results['prepare'] = {'ours': repeated(_prepare_ours(catalog_dir, prepared)), 'reference': repeated(
            _prepare_reference(catalog_dir, os.path.join(work, 'reference')))}
        save()
    if not args.only:
        results['decode'] = repeated(lambda: child('decode', catalog_dir=catalog_dir))
        results['input'] = repeated(lambda: child('input', prepared=prepared, catalog_dir=catalog_dir,
                                                  steps=args.steps))
        save()
        results['training'] = repeated(lambda: child('training', prepared=prepared, steps=args.steps))
        save()
    model_dir = _model_dir(args.model_dir[0] if args.model_dir else 'untrained:seed_cnn', prepared, work)
    export_root = os.path.join(model_dir, 'export')
    if wanted('score'):
        results['scoring'] = {
            'ours': repeated(_score_ours(catalog_dir, export_root, os.path.join(work, 'scores-1x'))),
            'reference': repeated(lambda: child('predict', catalog_dir=catalog_dir, model_dir=model_dir))}
        save()
    for factor in sizes if args.only != 'models' else ():
        sized = _replicate(catalog_dir, factor, work)
        entry = results['sizes'].setdefault(str(factor), {'rows': _rows(sized)})
        if wanted('prepare'):
            entry['prepare'] = (results['prepare']['ours'] if factor == 1 else
                                repeated(_prepare_ours(sized, os.path.join(work, f'prepared-{factor}x'))))
        if wanted('score'):
            entry['score'] = (results['scoring']['ours'] if factor == 1 else
                              repeated(_score_ours(sized, export_root, os.path.join(work, f'scores-{factor}x'))))
        save()
    if wanted('models') and args.model_dir:
        with open(os.path.join(prepared, artifacts.MANIFEST), encoding='utf-8') as f:
            manifest = json.load(f)
        results['models'] = {'model_dirs': args.model_dir, 'steps': args.steps,
                             'train_examples': sum(manifest['class_counts']['train'].values()),
                             'rows': [_model_row(spec, prepared, catalog_dir, work, args.steps)
                                      for spec in args.model_dir]}
        save()
    if wanted('flags') and args.model_dir and not args.model_dir[0].startswith('untrained:'):
        results['flags'] = label_noise.measure(catalog_dir, prepared, args.model_dir[0], os.path.join(work, 'flags'))
        save()
    if not args.no_epoch and args.only in (None, 'models'):
        results['epoch'] = child('epoch', prepared=prepared)
        if 'models' in results and args.only == 'models':
            results['models']['seed_epoch_s'] = results['epoch']['epoch_s']
        save()
    return results


def _model_dir(spec, prepared, work):
    """The model dir a --model-dir value names; untrained:NAME is made (once) under `work`."""
    if not spec.startswith('untrained:'):
        return spec
    name = spec.split(':', 1)[1]
    model_dir = os.path.join(work, f'untrained-{name}')
    if not os.path.exists(os.path.join(model_dir, 'export')):
        child('untrained_model', prepared=prepared, model_dir=model_dir, name=name)
    return model_dir


def _model_row(spec, prepared, catalog_dir, work, steps):
    """One row of the model table: measured speed, and what the model dir's files say of its training."""
    model_dir = _model_dir(spec, prepared, work)
    row = {'model_dir': spec}
    if spec.startswith('untrained:'):
        row['name'] = spec.split(':', 1)[1]
    else:
        with open(os.path.join(model_dir, artifacts.TRAINING_RUN), encoding='utf-8') as f:
            run = json.load(f)
        with open(os.path.join(model_dir, artifacts.METRICS), encoding='utf-8') as f:
            metrics = json.load(f)
        row.update(name=run['model'], epochs=run['epochs'], wall_s=run['wall_seconds'], cpu=run['cpu'],
                   test_accuracy=metrics['test.accuracy'], val_macro_f1=metrics['val.macro_f1'])
    row['training'] = repeated(lambda: child('model_training', prepared=prepared, name=row['name'], steps=steps))
    row['inference'] = repeated(lambda: child('predict', catalog_dir=catalog_dir, model_dir=model_dir))
    row['serving'] = repeated(_score_ours(catalog_dir, os.path.join(model_dir, 'export'),
                                          os.path.join(work, f'scores-{row["name"]}')))
    return row


def _median(figure, key):
    return figure[key]['median']


def _spread(figure, key, digits=1):
    f = figure[key]
    text = f'{f["median"]:.{digits}f}'
    return text + (f' ({f["min"]:.{digits}f}-{f["max"]:.{digits}f}, {figure["runs"]} runs)' if figure['runs'] > 1
                   else ' (1 run)')


def _size_checks(sizes):
    """The memory and scaling targets, for the sizes measured."""
    factors = sorted(sizes, key=int)
    lines = []
    for job in ('prepare', 'score'):
        peaks = {f: _median(sizes[f][job], 'peak_rss_mib') for f in factors}
        lines.append(f'- {job}: peak RSS at most {max(peaks.values()):.0f} MiB (target ≤ 2048 MiB: '
                     f'{"met" if max(peaks.values()) <= 2048 else "missed"})')
        first, last = factors[0], factors[-1]
        if last != first:
            growth = peaks[last] / peaks[first] - 1
            times = _median(sizes[last][job], 'wall_s') / _median(sizes[first][job], 'wall_s')
            size_ratio = int(last) / int(first)
            lines.append(f'- {job}: {size_ratio:g}x the rows takes {times:.2f}x the time (target ≤ '
                         f'{1.1 * size_ratio:.1f}x: {"met" if times <= 1.1 * size_ratio else "missed"}) and '
                         f'{growth:+.0%} peak RSS (target < +25%: {"met" if growth < 0.25 else "missed"})')
    return lines


def _model_table(r):
    """The model table, each model's speed against the reference CNN's where it is in the table."""
    models = r['models']
    seed = next((m for m in models['rows'] if m['name'] == 'seed_cnn'), None)
    seed_epochs = 9  # the reference CNN's run in BENCHMARKS.md: 9 epochs to its result
    command = ''.join(' --model-dir ' + d for d in models['model_dirs'])
    lines = [f'Models, measured side by side by `bench.py --catalog {r["catalog"]}{command} --steps {models["steps"]}'
             f'{" --only models" if "models" in r.get("remeasured", {}) else ""}`: training images/s over '
             f'{models["steps"]} steps of each model\'s own recipe (its batch size and augmentation) fed by the '
             'trainer\'s tf.data input; serving images/s through the score job on the catalog; epochs, wall time '
             'and accuracy from the model dir\'s training_run.json and metrics.json.', '',
             '| model | parameters | multiply-adds / image | training images/s | serving images/s, score job | '
             'model.predict images/s, in memory | epochs | wall time, training start to exported model | '
             'test accuracy (Class) | val macro F1 (Class) |', '| --- ' * 10 + '|']
    for m in models['rows']:
        t, s = m['training'], m['serving']
        speed = [_spread(t, 'images_per_s') + (f' in {t["precision"]}' if 'precision' in t else ''),
                 _spread(s, 'images_per_s')]
        if seed and m is not seed:
            for i, (figure, stage) in enumerate(((t, 'training'), (s, 'serving'))):
                times = ratio(_median(figure, 'images_per_s'), _median(seed[stage], 'images_per_s'))
                speed[i] += f', **{times}x** the reference CNN'
        trained = (f'{m["epochs"]} | {m["wall_s"] / 60:.1f} min ({m["cpu"]}) | {m["test_accuracy"]:.4f} | '
                   f'{m["val_macro_f1"]:.4f}' if 'epochs' in m else 'untrained here: speed only | | | ')
        inference = _spread(m['inference'], 'images_per_s') if 'inference' in m else '—'
        lines.append(f'| {m["name"]} | {_median(t, "parameters"):,.0f} | {_median(t, "multiply_adds"):,.0f} | '
                     f'{speed[0]} | {speed[1]} | {inference} | {trained} |')
    if seed:
        seed_minutes, how = seed_epochs * models['train_examples'] / _median(seed['training'], 'images_per_s') / 60, (
            'its training images/s above over the train split')
        if 'seed_epoch_s' in models:
            seed_minutes, how = seed_epochs * models['seed_epoch_s'] / 60, 'one epoch measured in this run'
        lines += ['', f'The reference CNN\'s training time on this machine, estimated as its {seed_epochs} epochs '
                      '(below) '
                      f'times {how}: {seed_minutes:.0f} min, before validation (its run in BENCHMARKS.md took 142 min with '
                      'validation).']
        lines += [f'- {m["name"]}: {m["wall_s"] / 60:.1f} min with validation, evaluation and export, '
                  f'{m["wall_s"] / 60 / seed_minutes:.2f} of that estimate (target ≤ 0.25)'
                  for m in models['rows'] if 'wall_s' in m and m['name'] != 'seed_cnn']
    return lines


def _again_title(r):
    """'; score and models again on DATE' for the parts measured again."""
    by_date = {}
    for job in ('prepare', 'score', 'models', 'flags'):
        if job in r.get('remeasured', {}):
            by_date.setdefault(r['remeasured'][job]['date'], []).append(job)
    return ''.join(f'; {", ".join(jobs[:-1])}{" and " if len(jobs) > 1 else ""}{jobs[-1]} again on {date}'
                   for date, jobs in sorted(by_date.items()))


def _where(again):
    """', on CPU' for a re-measure that recorded its machine (those before 2026-12-06 did not)."""
    return f', on {again["cpu"]}' if again.get('cpu') else ''


def stage_rows(r):
    """[(stage, ours, reference, ratio, target, met, the bench.py job that measured it)] of the stages measured."""
    rows = []
    if 'prepare' in r:
        ours, ref = r['prepare']['ours'], r['prepare']['reference']
        x = ratio(_median(ours, 'wall_s'), _median(ref, 'wall_s'))
        rows.append(('prepare, wall s', _spread(ours, 'wall_s'), f'{_spread(ref, "wall_s")} (plain loop)', x, '≤ 1.5x',
                     x <= 1.5, 'prepare'))
    if 'input' in r:
        i = r['input']
        x = ratio(_median(i, 'ours_images_per_s'), _median(i, 'reference_images_per_s'))
        rows.append(('training input, first epoch (decoding), images/s', _spread(i, 'ours_images_per_s'),
                     f'{_spread(i, "reference_images_per_s")} (ImageDataGenerator)', x, '≥ 5x', x >= 5, 'input'))
        x = ratio(_median(i, 'ours_cached_images_per_s'), _median(i, 'reference_images_per_s'))
        rows.append(('training input, later epochs (cached), images/s', _spread(i, 'ours_cached_images_per_s'),
                     'the same reference', x, '≥ 5x', x >= 5, 'input'))
    if 'training' in r:
        t = r['training']
        x = ratio(_median(t, 'fed_images_per_s'), _median(t, 'memory_images_per_s'))
        rows.append((f'training, images/s over {r["steps"]} steps', _spread(t, 'fed_images_per_s'),
                     f'{_spread(t, "memory_images_per_s")} (from memory)', x, '≥ 0.9x', x >= 0.9, 'training'))
    if 'scoring' in r:
        ours, ref = r['scoring']['ours'], r['scoring']['reference']
        x = ratio(_median(ours, 'images_per_s'), _median(ref, 'images_per_s'))
        rows.append(('scoring, images/s end to end', _spread(ours, 'images_per_s'),
                     f'{_spread(ref, "images_per_s")} (model.predict in memory)', x, '≥ 0.6x', x >= 0.6, 'score'))
    return rows


def _judged_rows():
    """The head table's rows of the judged sample (schemas/judged.json: what the audit and the nightly quote)."""
    with open(JUDGED, encoding='utf-8') as f:
        j = json.load(f)
    top, recall, unflagged, flags = j['top'], j.get('pooled_recall'), j['unflagged'], j.get('flags')
    where = (j['judged_on'], 'judged blind by eye', j['command'], 'Plain mistakes first')
    rows = [(f'audit: the {j["ranking"]} list\'s top {top["count"]}, plainly wrong / wrong or arguable',
             f'{top["wrong"] / top["count"]:.2f} / {(top["wrong"] + top["arguable"]) / top["count"]:.2f}', '', '',
             '≥ 0.60 / ≥ 0.90', top['wrong'] / top['count'] >= 0.6 and (top['wrong'] + top['arguable']) / top['count']
             >= 0.9, *where),
            (f'audit: random unflagged items judged wrong ({unflagged["judged"]})', f'{unflagged["wrong"]}',
             f'95% {unflagged["wilson95"][0]:.1%}-{unflagged["wilson95"][1]:.1%}', '', '', None, *where)]
    if recall:
        rows.append(('audit: pooled recall (items judged wrong anywhere that the list holds)',
                     f'{recall["recall"]:.2f} ({recall["in_list"]} of {recall["wrong_judged"]})', '', '', '≥ 0.70',
                     recall['recall'] >= 0.7, *where))
    if flags:
        rows.append(("nightly: real flags on val and test items, plainly wrong", f'{flags["precision"]:.2f} '
                     f'({flags["wrong"]} of {flags["judged"]})',
                     f'95% {flags["wilson95"][0]:.2f}-{flags["wilson95"][1]:.2f}', '', '≥ 0.60',
                     flags['precision'] >= 0.6, *where))
    return rows


def head_table(r):
    """BENCHMARKS.md's first table: every current figure, from bench.py's raw figures (BENCHMARKS.json),
    benchmarks/current.json (the figures measured by hand, each with its command) and schemas/judged.json."""
    m, again = r['machine'], r.get('remeasured', {})
    rows = [(stage, ours, reference, f'{x}x', target, met, again.get(job, m)['date'],
             f'{again.get(job, {}).get("cpu") or m["cpu"]}, {m["cores"]} cores', 'benchmarks/bench.py (make bench)',
             'Every stage against its reference')
            for stage, ours, reference, x, target, met, job in stage_rows(r)]
    with open(CURRENT, encoding='utf-8') as f:
        rows += [(c['stage'], c['figure'], c['reference'], c.get('ratio', ''), c['target'], c['met'], c['date'],
                  c['machine'], c['command'], c['section']) for c in json.load(f)]
    rows += _judged_rows()
    lines = ['| stage | figure | reference | ratio | target | met | date, machine | command (section below) |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for stage, figure, reference, x, target, met, date, machine, command, section in rows:
        verdict = {True: 'met', False: '**missed**', None: '—'}[met if target else None]
        lines.append(f'| {stage} | {figure} | {reference or "—"} | {x or "—"} | {target or "—"} | {verdict} | '
                     f'{date}, {machine} | `{command}` ("{section}") |')
    return lines


def markdown(r):
    """BENCHMARKS.md from the raw figures (whatever stages have finished)."""
    m = r['machine']
    lines = ['# Benchmarks', '',
             'What each stage costs and how well it works today, against its reference and target. Every figure '
             'has its date, its machine and the command that measured it; compare figures only within one block '
             '(the VM\'s speed drifts from day to day). This table is written by `benchmarks/bench.py '
             '--markdown-only` from BENCHMARKS.json (bench.py\'s raw figures), benchmarks/current.json (the figures '
             'measured by hand) and schemas/judged.json (the judged sample); the sections below give each area\'s '
             'method and details. Superseded measurements are in benchmarks/history/, one file per dated section.',
             '', '## Today\'s figures', '', *head_table(r), '',
             f'## Every stage against its reference (bench.py, {r["machine"]["date"]}{_again_title(r)})', '',
             f'Measured by `benchmarks/bench.py --catalog {r["catalog"]}'
             f'{" --model-dir " + r["model_dir"] if r.get("model_dir") else ""}` (`make bench`) on '
             f'{m["date"]}: {m["cores"]} cores ({m["cpu"]}), {m["memory_gib"]} GiB, Python {m["python"]}, '
             f'Beam {m["apache_beam"]}, TensorFlow {m["tensorflow"]}; load average at start '
             f'{", ".join(f"{x:.2f}" for x in m["load_average_at_start"])}. Raw figures: BENCHMARKS.json. '
             'Medians, with min-max and the number of runs; the stages against their references are in the first '
             'table.'
             + ''.join(f' The {job} figures{"" if job in ("models", "flags") else " (its comparison and sizes)"} '
                       f'were measured again on {again["date"]}{_where(again)} '
                       f'(`--only {job}{"".join(" --model-dir " + d for d in again.get("model_dirs") or ())}`; '
                       f'load average at start {", ".join(f"{x:.2f}" for x in again["load_average_at_start"])}).'
                       for job, again in r.get('remeasured', {}).items())]
    if r.get('sizes'):
        lines += ['', '| size | rows | prepare wall s | prepare peak RSS MiB | score wall s | score peak RSS MiB |',
                  '| --- | --- | --- | --- | --- | --- |']
        for factor, s in r['sizes'].items():
            lines.append(f'| {factor}x | {s["rows"]} | {_spread(s["prepare"], "wall_s")} | '
                         f'{_spread(s["prepare"], "peak_rss_mib", 0)} | {_spread(s["score"], "wall_s")} | '
                         f'{_spread(s["score"], "peak_rss_mib", 0)} |')
        lines += ['', *_size_checks(r['sizes'])]
    if r.get('models'):
        lines += ['', *_model_table(r)]
    if 'epoch' in r:
        e = r['epoch']
        lines += ['', f'One epoch of the reference CNN over the train split ({e["images"]} images, the first epoch, '
                      f'decoding every JPEG into the cache): {e["epoch_s"]:.0f} s, {e["images_per_s"]:.1f} images/s '
                      '(1 run).']
    if r.get('flags'):
        lines += ['', *label_noise.markdown_lines(r['flags'])]
    if 'decode' in r:
        d = r['decode']
        lines += ['', f'JPEG decode from memory over {int(_median(d, "images"))} catalog images: PIL '
                      f'{_spread(d, "pil_images_per_s")} images/s on one core; tf.io.decode_jpeg in tf.data '
                      f'{_spread(d, "tf_images_per_s")} images/s on one core, '
                      f'{_spread(d, "tf_all_cores_images_per_s")} on all {m["cores"]}.']
    if os.path.exists(NOTES):
        with open(NOTES, encoding='utf-8') as f:
            lines += ['', f.read().rstrip()]
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    main()

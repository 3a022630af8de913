"""The nightly's cost by what changed (BENCHMARKS.md, "A night's cost"): a first night, a quiet night and a night
with 1% of items changed, on the catalog and on FACTORx copies of it, for this tree and for an older one.

    git worktree add /tmp/before <commit>
    .venv/bin/python benchmarks/nightly_cost.py --catalog ../shared/data/fashion-product-images-small \
        --model EXPORT --tree before=/tmp/before --sizes 1,4 --work /tmp/bench-nightly

Each size gets a writable catalog: styles.csv copied (FACTOR copies of each row under new ids, as bench.py
replicates) and images/ as symlinks to the originals. For each tree, one after the other: a fresh state folder,
the first night, the same catalog again (quiet), then 1% of the items changed (half renamed in styles.csv, half
given another item's image as a new file) and a third night; the catalog is then put back. The nightly runs as
the README's command does (in-memory DirectRunner), the older tree's from its own source (PYTHONPATH). Wall
time and peak RSS (summed over the process tree) per night; scored and images read from the run's summary.
With --shared-first, the first night runs once (this tree) and each tree's quiet and 1% nights start from a
copy of its state. Writes WORK/nightly_cost.json (keeping the sizes measured before) and prints a markdown
table.
"""
import argparse
import json
import os
import random
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the linked catalog copies, run_measured and the machine's description)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHANGED_FRACTION = 0.01


def _change(catalog_dir):
    """Renames half of 1% of the items (an edit to productDisplayName, the last column) and gives the other half
    another item's image as a new file; returns how to undo it."""
    path = os.path.join(catalog_dir, 'styles.csv')
    with open(path, encoding='utf-8') as f:
        original = f.read()
    lines = original.splitlines()
    images = sorted(os.listdir(os.path.join(catalog_dir, 'images')))
    picked = random.Random(7).sample(range(1, len(lines)), int(CHANGED_FRACTION * (len(lines) - 1)))
    renamed, reimaged = picked[::2], picked[1::2]
    for n in renamed:
        lines[n] += ' v2'
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')
    replaced = []
    for n in reimaged:
        link = os.path.join(catalog_dir, 'images', f'{lines[n].split(",", 1)[0]}.jpg')
        if os.path.islink(link):
            following = images[(images.index(os.path.basename(link)) + 1) % len(images)]
            donor = os.path.join(catalog_dir, 'images', following)
            target = os.readlink(link)
            os.remove(link)
            shutil.copyfile(donor, link)
            replaced.append((link, target))

    def undo():
        with open(path, 'w', encoding='utf-8') as f:
            f.write(original)
        for link, target in replaced:
            os.remove(link)
            os.symlink(target, link)
    return {'renamed': len(renamed), 'reimaged': len(replaced)}, undo


def _night(tree, catalog_dir, model, state_dir):
    """One nightly run of TREE's code (run from TREE, so that its `pipelines` is the one imported): wall seconds,
    peak RSS MiB, and what its summary says."""
    wall, peak, _ = bench.run_in_tree(tree, ['nightly', '--catalog', catalog_dir, '--model', model, '--state',
                                             state_dir, '--allow-unblessed'])
    with open(os.path.join(state_dir, 'CURRENT'), encoding='utf-8') as f:
        run = f.read().strip()
    with open(os.path.join(state_dir, 'runs', run, 'summary.json'), encoding='utf-8') as f:
        summary = json.load(f)
    return {'wall_s': round(wall, 1), 'peak_rss_mib': round(peak), 'rows_read': summary['rows_read'],
            'scored': summary['scored'], 'images_read': summary.get('counters', {}).get('images_read')}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--model', required=True, help='an export (blessed or not)')
    bench.add_tree_flag(parser)
    parser.add_argument('--sizes', default='1,4')
    parser.add_argument('--work', required=True)
    parser.add_argument('--shared-first', action='store_true',
                        help="run the first night once, with this tree, and start each tree's quiet and 1%% nights "
                             'from a copy of its state (the older code reads it as its own; saves a long first '
                             'night per tree on a big catalog)')
    parser.add_argument('--skip', default='', help='nights not to run, as TREE:NIGHT, comma-separated (e.g. '
                                                   'before:changed_1pct)')
    args = parser.parse_args(argv)
    args.skip = set(filter(None, args.skip.split(',')))
    args.model, args.catalog = os.path.abspath(args.model), os.path.abspath(args.catalog)
    os.makedirs(args.work, exist_ok=True)
    trees = bench.trees(args)
    saved = os.path.join(args.work, 'nightly_cost.json')
    results = {'sizes': {}}
    if os.path.exists(saved):  # other sizes measured earlier stay
        with open(saved, encoding='utf-8') as f:
            results = json.load(f)
    results.setdefault('machines', {})[args.sizes] = bench.machine()
    results.update(catalog=args.catalog, model=args.model)
    results.setdefault('trees', {}).update(trees)
    for factor in (int(s) for s in args.sizes.split(',')):
        catalog_dir = os.path.join(args.work, f'catalog-{factor}x')
        shutil.rmtree(catalog_dir, ignore_errors=True)
        bench.linked_catalog(args.catalog, factor, catalog_dir)
        first_state = None
        if args.shared_first:
            first_state = os.path.join(args.work, f'state-{factor}x-first')
            shutil.rmtree(first_state, ignore_errors=True)
            shared = {'first': _night(ROOT, catalog_dir, args.model, first_state)}
            print(factor, 'after', 'first (shared)', shared['first'], flush=True)
        for name, tree in trees:
            state_dir = os.path.join(args.work, f'state-{factor}x-{name}')
            shutil.rmtree(state_dir, ignore_errors=True)
            if first_state:
                shutil.copytree(first_state, state_dir)
                nights = dict(shared) if name == 'after' else {}
            else:
                nights = {'first': _night(tree, catalog_dir, args.model, state_dir)}
                print(factor, name, 'first', nights['first'], flush=True)
            nights['quiet'] = _night(tree, catalog_dir, args.model, state_dir)
            print(factor, name, 'quiet', nights['quiet'], flush=True)
            if f'{name}:changed_1pct' not in args.skip:
                changed, undo = _change(catalog_dir)
                try:
                    nights['changed_1pct'] = dict(_night(tree, catalog_dir, args.model, state_dir), **changed)
                finally:
                    undo()
                print(factor, name, '1% changed', nights['changed_1pct'], flush=True)
            results['sizes'].setdefault(str(factor), {})[name] = nights
            with open(saved, 'w', encoding='utf-8') as f:
                json.dump(results, f, indent=1)
    print(markdown(results))
    return results


def markdown(results):
    lines = ['| catalog | code | night | rows | scored | images read | wall s | peak RSS MiB |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for factor, by_tree in results['sizes'].items():
        for name, nights in by_tree.items():
            for night, figures in nights.items():
                lines.append(f'| {factor}x | {name} | {night} | {figures["rows_read"]} | {figures["scored"]} | '
                             f'{figures["images_read"] if figures["images_read"] is not None else "-"} | '
                             f'{figures["wall_s"]} | {figures["peak_rss_mib"]} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    main()

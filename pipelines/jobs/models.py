"""Models: the model versions a models folder holds, which one is in use, and moving the pointer by hand.

    fashion-pipeline models --models MODELS_DIR                       lists the versions
    fashion-pipeline models --models MODELS_DIR --rollback            back to the release in use before
    fashion-pipeline models --models MODELS_DIR --promote VERSION     a complete release, blessed or not

CURRENT moves in one step (pipelines/storage/models.py); the next nightly run rescores every item, as it does
whenever the model release changes.
"""
import argparse
import sys

from apache_beam.io.filesystems import FileSystems

from pipelines.errors import UserError
from pipelines.storage import files, models


def listing(models_dir):
    current = models.current(models_dir)
    lines = []
    for release in models.releases(models_dir):
        s = models.summary(models_dir, release)
        lines.append(f'{"*" if release == current else " "} {release}  {models.kind(models_dir, release)}  '
                     f'test accuracy {s["test_accuracy"]:.4f}  '
                     f'val macro F1 {s["val_macro_f1"]:.4f}  {"blessed" if s["blessed"] else "not blessed"}  '
                     f'{"promoted" if s["promoted"] else "not promoted"}: {s["reason"]}')
    return lines or [f'no model versions in {models_dir}']


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline models',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--models', required=True, help='the models folder')
    action = parser.add_mutually_exclusive_group()
    action.add_argument('--rollback', action='store_true', help='point CURRENT back at the release in use before')
    action.add_argument('--promote', metavar='VERSION', help='point CURRENT at this version')
    args = parser.parse_args(argv)
    files.check_paths(args, folders=['models'])
    if not FileSystems.exists(args.models):
        raise UserError(f'--models {args.models!r} does not exist')
    if args.rollback:
        target = models.rollback_target(args.models)
        models.move_current(args.models, target, models.ROLLBACK, 'rolled back by hand')
        print(f'CURRENT is now {target}')
    elif args.promote:
        models.move_current(args.models, args.promote, models.PROMOTE, 'promoted by hand')
        print(f'CURRENT is now {args.promote}')
    print('\n'.join(listing(args.models)))
    return models.current(args.models)


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['models', *sys.argv[1:]]))

"""The attribute flags of a score or nightly output, judged blind (benchmarks/judged/RULES.md, "Attributes"): draw
them, lay them out for judging by eye, record the verdicts, and state the flags' precision.

    python benchmarks/judged/attributes.py draw --scores SCORES_DIR --attribute gender --out benchmarks/judged/DIR
    python benchmarks/judged/attributes.py sheets --catalog CATALOG --attribute gender --out benchmarks/judged/DIR \
                                                  --sheets /tmp/sheets
    python benchmarks/judged/attributes.py record --attribute gender --out benchmarks/judged/DIR --verdicts FILE
    python benchmarks/judged/attributes.py figures --attribute gender --out benchmarks/judged/DIR

`draw` takes the COUNT surest flags (`disagrees_<c>`, by the prediction's calibrated confidence) on val and test
items (those the model never trained on: the split follows from each item's content hash) into
attribute-<c>.csv (id, given value) and a seeded shuffle of them into order-<c>.csv (seq, id). `sheets` captions
each image with its number, the given value and the display name only: no prediction, no confidence. `record`
turns verdict lines "SEQ wrong|arguable|right" into judgments-<c>.csv; `figures` prints the share judged wrong
(the flags' precision, wrong only) with its 95% Wilson interval, and wrong or arguable.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from name_baseline import catalog_rows  # noqa: E402  pylint: disable=wrong-import-position
from pipelines.rules import attributes, catalog, split  # noqa: E402  pylint: disable=wrong-import-position
from sample import PER_SHEET, SEED, TILE, VERDICTS, wilson  # noqa: E402  pylint: disable=wrong-import-position

COUNT = 100


def _column(args):
    return attributes.COLUMN[args.attribute]


def cmd_draw(args):
    column = _column(args)
    frame = pd.read_parquet(glob.glob(os.path.join(args.scores, 'predictions-*.parquet')),
                            columns=['id', 'content_hash', args.attribute, f'disagrees_{column}',
                                     f'{column}_confidence'])
    held_out = frame['content_hash'].map(split.assign_split).isin(['val', 'test'])
    flagged = frame[frame[f'disagrees_{column}'].fillna(False).astype(bool) & held_out]
    surest = flagged.sort_values([f'{column}_confidence', 'id'], ascending=[False, True]).head(args.count)
    os.makedirs(args.out, exist_ok=True)
    surest[['id', args.attribute]].to_csv(os.path.join(args.out, f'attribute-{column}.csv'), index=False)
    order = np.random.default_rng(SEED + 2).permutation(sorted(surest['id'], key=int))
    pd.DataFrame({'seq': range(1, len(order) + 1), 'id': order}).to_csv(
        os.path.join(args.out, f'order-{column}.csv'), index=False)
    print(f'{len(surest)} of {len(flagged)} {column} flags on val and test items drawn')


def cmd_sheets(args):
    order = pd.read_csv(os.path.join(args.out, f'order-{_column(args)}.csv'), dtype=str)
    rows = {r.id: r._asdict() for r in catalog_rows(args.catalog)}
    os.makedirs(args.sheets, exist_ok=True)
    for start in range(0, len(order), PER_SHEET):
        command = ['montage']
        for seq, item_id in order.iloc[start:start + PER_SHEET].itertuples(index=False):
            row = rows[item_id]
            caption = (f'#{seq} {args.attribute}: {row[args.attribute]}\\n{row["productDisplayName"][:34]}\\n'
                       f'{row["productDisplayName"][34:68]}')
            command += ['-label', caption, catalog.image_path(args.catalog, item_id)]
        command += ['-tile', '6x', '-geometry', f'{TILE}+6+6', '-pointsize', '10',
                    os.path.join(args.sheets, f'{_column(args)}-{start // PER_SHEET + 1:02d}.png')]
        subprocess.run(command, check=True)
    print(f'{-(-len(order) // PER_SHEET)} sheets in {args.sheets}')


def cmd_record(args):
    order = dict(pd.read_csv(os.path.join(args.out, f'order-{_column(args)}.csv'), dtype=str).itertuples(index=False))
    judged = {}
    with open(args.verdicts, encoding='utf-8') as f:
        for line in f:
            if line.strip() and not line.startswith('#'):
                seq, verdict = line.split()[:2]
                if verdict not in VERDICTS:
                    raise SystemExit(f'{line.strip()!r}: the verdict must be one of {", ".join(VERDICTS)}')
                judged[order[seq]] = verdict
    path = os.path.join(args.out, f'judgments-{_column(args)}.csv')
    pd.DataFrame(sorted(judged.items(), key=lambda kv: int(kv[0])), columns=['id', 'verdict']).to_csv(path,
                                                                                                      index=False)
    print(f'{len(judged)} of {len(order)} judged in {path}')


def cmd_figures(args):
    column = _column(args)
    drawn = pd.read_csv(os.path.join(args.out, f'attribute-{column}.csv'), dtype=str)
    verdicts = pd.read_csv(os.path.join(args.out, f'judgments-{column}.csv'), dtype=str).set_index('id')['verdict']
    judged = verdicts.reindex(drawn['id']).dropna()
    wrong, loose = int((judged == 'wrong').sum()), int(judged.isin(['wrong', 'arguable']).sum())
    print(json.dumps({'attribute': args.attribute, 'flags': len(drawn), 'judged': len(judged), 'wrong': wrong,
                      'precision': round(wrong / len(judged), 3) if len(judged) else None,
                      'precision_interval': wilson(wrong, len(judged)),
                      'wrong_or_arguable': round(loose / len(judged), 3) if len(judged) else None}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    for name in ('draw', 'sheets', 'record', 'figures'):
        p = commands.add_parser(name)
        p.add_argument('--attribute', required=True, choices=attributes.FLAGGED)
        p.add_argument('--out', required=True)
        if name == 'draw':
            p.add_argument('--scores', required=True, help='a score or nightly output')
            p.add_argument('--count', type=int, default=COUNT)
        if name == 'sheets':
            p.add_argument('--catalog', required=True)
            p.add_argument('--sheets', required=True)
        if name == 'record':
            p.add_argument('--verdicts', required=True)
    args = parser.parse_args(argv)
    {'draw': cmd_draw, 'sheets': cmd_sheets, 'record': cmd_record, 'figures': cmd_figures}[args.command](args)


if __name__ == '__main__':
    main()

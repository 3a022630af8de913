"""The judged sample of a real-catalog audit: draw it, lay it out blind for judging by eye, record the verdicts,
and compute the audit's precision from them.

    python benchmarks/judged/sample.py draw --audit AUDIT_DIR --out benchmarks/judged/DIR [--judged FILE ...]
    python benchmarks/judged/sample.py sheets --catalog CATALOG --out benchmarks/judged/DIR --sheets /tmp/sheets
    python benchmarks/judged/sample.py record --out benchmarks/judged/DIR --verdicts VERDICTS.txt
    python benchmarks/judged/sample.py figures --out benchmarks/judged/DIR --judged benchmarks/judged/DIR/judgments.csv

`draw` takes the audit's top TOP issues, RANDOM_UNFLAGGED items drawn with SEED from those it did not flag,
and RANDOM_TAIL drawn from the issues ranked below TOP (sample.csv: id and draw), with --compare-top N every
ranking's top N too, and a seeded shuffle of the items no earlier judgments (--judged) cover (order.csv: seq, id). `sheets` draws contact sheets of the shuffled
items (ImageMagick's montage), each captioned with its number, given labels and display name only: no rank, no
draw, no suggestion; they stay outside the repository (they are the catalog's images). `record` turns verdict
lines "SEQ wrong|arguable|right [better articleType]" into judgments.csv (id, verdict, better_type).
`draw` also keeps every ranking's top TOP ids (rankings.csv), so that `figures` recomputes BENCHMARKS.md's figures
from the committed files alone (or from --audit's table): precision at 50, 100 and 150
per ranking (rules/audit.RANKINGS, and the image head alone), counting wrong only and wrong or arguable, and the
wrong share among unflagged items with its 95% Wilson interval. Rankings whose top items are not all judged
say how many are missing.
"""
import argparse
import collections
import csv
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from scipy.stats import binomtest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from name_baseline import catalog_rows  # noqa: E402  pylint: disable=wrong-import-position
from pipelines import artifacts  # noqa: E402  pylint: disable=wrong-import-position
from pipelines.rules import audit as audit_rules, catalog  # noqa: E402  pylint: disable=wrong-import-position

TOP, RANDOM_UNFLAGGED, RANDOM_TAIL, SEED = 150, 100, 50, 20261203
VERDICTS = ('wrong', 'arguable', 'right')
PER_SHEET, TILE = 30, '120x160'
CUTS = (50, 100, 150)
IMAGE_HEAD = 'image_head'


def read_audit(audit_dir):
    return pd.read_parquet(os.path.join(audit_dir, artifacts.AUDIT_PARQUET))


def draw(table, seed=SEED):
    """[(id, draw)]: the top issues, a random draw of the unflagged and one of the issues below the top."""
    issues = table[table['issue']].sort_values('rank')
    unflagged = sorted(table.loc[~table['issue'] & table['rank'].notna(), 'id'], key=int)  # row order is no input
    tail = sorted(issues['id'].iloc[TOP:], key=int)
    rng = np.random.default_rng(seed)
    picks = [(i, 'top') for i in issues['id'].iloc[:TOP]]
    picks += [(i, 'unflagged') for i in sorted(rng.choice(unflagged, RANDOM_UNFLAGGED, replace=False), key=int)]
    picks += [(i, 'tail') for i in sorted(rng.choice(tail, min(RANDOM_TAIL, len(tail)), replace=False), key=int)]
    return [(str(i), draw_name) for i, draw_name in picks]


def read_judgments(paths):
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths if os.path.exists(p)]
    return pd.concat(frames).drop_duplicates('id', keep='last') if frames else pd.DataFrame(
        columns=['id', 'verdict', 'better_type'])


def cmd_draw(args):
    table = read_audit(args.audit)
    picks = draw(table)
    os.makedirs(args.out, exist_ok=True)
    pd.DataFrame(picks, columns=['id', 'draw']).to_csv(os.path.join(args.out, 'sample.csv'), index=False)
    pd.DataFrame([(ranking, n, i) for ranking, ids in orders(table).items() for n, i in enumerate(ids, start=1)],
                 columns=['ranking', 'position', 'id']).to_csv(os.path.join(args.out, 'rankings.csv'), index=False)
    extra = {i for ranking in (*audit_rules.RANKINGS, IMAGE_HEAD) for i in ranked_by(table, ranking)[:args.compare_top]}
    judged = set(read_judgments(args.judged or [])['id'])
    to_judge = sorted(({i for i, _ in picks} | extra) - judged, key=int)
    order = np.random.default_rng(SEED + 1).permutation(to_judge)
    pd.DataFrame({'seq': range(1, len(order) + 1), 'id': order}).to_csv(os.path.join(args.out, 'order.csv'),
                                                                         index=False)
    print(f'{len(picks)} drawn, {len(to_judge)} to judge')


def cmd_sheets(args):
    order = pd.read_csv(os.path.join(args.out, 'order.csv'), dtype=str)
    rows = {r['id']: r for r in catalog_rows(args.catalog)}
    os.makedirs(args.sheets, exist_ok=True)
    for start in range(0, len(order), PER_SHEET):
        command = ['montage']
        for seq, item_id in order.iloc[start:start + PER_SHEET].itertuples(index=False):
            row = rows[item_id]
            caption = (f'#{seq} {row["articleType"]}\\n{row["masterCategory"]}/{row["subCategory"]}\\n'
                       f'{row["productDisplayName"][:34]}\\n{row["productDisplayName"][34:68]}')
            image = catalog.image_path(args.catalog, item_id)
            command += ['-label', caption, image if os.path.exists(image) else 'xc:white']
        command += ['-tile', '6x', '-geometry', f'{TILE}+6+6', '-pointsize', '10',
                    os.path.join(args.sheets, f'sheet-{start // PER_SHEET + 1:02d}.png')]
        subprocess.run(command, check=True)
    print(f'{-(-len(order) // PER_SHEET)} sheets in {args.sheets}')


def cmd_record(args):
    order = dict(pd.read_csv(os.path.join(args.out, 'order.csv'), dtype=str).itertuples(index=False))
    path = os.path.join(args.out, 'judgments.csv')
    judged = read_judgments([path]).set_index('id').to_dict('index') if os.path.exists(path) else {}
    with open(args.verdicts, encoding='utf-8') as f:
        for line in f:
            if not line.strip() or line.startswith('#'):
                continue
            seq, verdict, *better = line.split(maxsplit=2)
            if verdict not in VERDICTS:
                raise SystemExit(f'{line.strip()!r}: the verdict must be one of {", ".join(VERDICTS)}')
            judged[order[seq]] = {'verdict': verdict, 'better_type': better[0].strip() if better else ''}
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['id', 'verdict', 'better_type'])
        for item_id in sorted(judged, key=int):
            writer.writerow([item_id, judged[item_id]['verdict'], judged[item_id]['better_type']])
    print(f'{len(judged)} judgments in {path}')


def ranked_by(table, ranking):
    """The issues in the order a ranking puts them: a ranking's own threshold issues, lowest quality first; the
    image head alone: items it puts another leaf first, lowest image probability first."""
    if ranking == IMAGE_HEAD:
        disagree = table['image_suggests'].notna() & (table['image_suggests'] != table['given_type'])
        return table[disagree].sort_values('image_given_probability')['id'].tolist()
    column = f'quality_{ranking}'
    audited = table[table[column].notna()]
    return audited.sort_values(column)['id'].tolist()


def wilson(count, total):
    if not total:
        return None, None
    interval = binomtest(count, total).proportion_ci(confidence_level=0.95, method='wilson')
    return round(float(interval.low), 4), round(float(interval.high), 4)


def orders(table, rankings=(*audit_rules.RANKINGS, IMAGE_HEAD), depth=CUTS[-1]):
    """{ranking: the ids it puts first, `depth` of them}."""
    return {ranking: ranked_by(table, ranking)[:depth] for ranking in rankings}


def figures(ranked, judgments, sample):
    """The figures of one audit from the judgments: `ranked` is orders(), `sample` its draw ([(id, draw)])."""
    verdict = dict(zip(judgments['id'], judgments['verdict']))
    out = {'rankings': {}}
    for ranking, order in ranked.items():
        row = {}
        for cut in CUTS:
            top = order[:cut]
            known = [verdict[i] for i in top if i in verdict]
            row[cut] = {'judged': len(known), 'missing': len(top) - len(known),
                        'wrong': round(known.count('wrong') / len(known), 3) if known else None,
                        'wrong_or_arguable': round((known.count('wrong') + known.count('arguable')) / len(known), 3)
                        if known else None}
        out['rankings'][ranking] = row
    drawn = collections.defaultdict(list)
    for item_id, draw_name in sample:
        drawn[draw_name].append(verdict.get(item_id))
    unflagged = [v for v in drawn['unflagged'] if v]
    wrong = unflagged.count('wrong')
    out['unflagged'] = {'judged': len(unflagged), 'wrong': wrong,
                        'rate': round(wrong / len(unflagged), 4) if unflagged else None,
                        'wilson95': wilson(wrong, len(unflagged)),
                        'arguable': unflagged.count('arguable')}
    out['draws'] = {name: {v: found.count(v) for v in (*VERDICTS, None)} for name, found in drawn.items()}
    return out


def cmd_figures(args):
    judgments = read_judgments(args.judged)
    if args.audit:
        table = read_audit(args.audit)
        ranked, sample = orders(table), draw(table)
    else:  # what draw committed: the rankings' tops and the sample
        frame = pd.read_csv(os.path.join(args.out, 'rankings.csv'), dtype={'id': str})
        ranked = {r: rows.sort_values('position')['id'].tolist() for r, rows in frame.groupby('ranking', sort=False)}
        sample = list(pd.read_csv(os.path.join(args.out, 'sample.csv'), dtype=str).itertuples(index=False, name=None))
    result = figures(ranked, judgments, sample)
    print(f'{"ranking":<12} ' + ' '.join(f'P@{c} wrong / +arguable (judged)' for c in CUTS))
    for ranking, row in result['rankings'].items():
        print(f'{ranking:<12} ' + ' '.join(
            f'{row[c]["wrong"]} / {row[c]["wrong_or_arguable"]} ({row[c]["judged"]}/{c})' for c in CUTS))
    u = result['unflagged']
    print(f'random unflagged: {u["wrong"]} wrong of {u["judged"]} judged = {u["rate"]} (95% Wilson '
          f'{u["wilson95"][0]}-{u["wilson95"][1]}), {u["arguable"]} arguable; verdicts per draw (None: not judged): '
          f'{result["draws"]}')
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    p = commands.add_parser('draw')
    p.add_argument('--audit', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--judged', action='append', help='judgments.csv files whose items need no new verdict')
    p.add_argument('--compare-top', type=int, default=0,
                   help='judge every ranking\'s top N too, so that the rankings compare on judged items')
    p = commands.add_parser('sheets')
    p.add_argument('--catalog', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--sheets', required=True)
    p = commands.add_parser('record')
    p.add_argument('--out', required=True)
    p.add_argument('--verdicts', required=True)
    p = commands.add_parser('figures')
    p.add_argument('--audit', help='an audit to rank from (default: the rankings and sample committed in --out)')
    p.add_argument('--out', help='a judged folder: its rankings.csv and sample.csv')
    p.add_argument('--judged', action='append', required=True)
    args = parser.parse_args(argv)
    {'draw': cmd_draw, 'sheets': cmd_sheets, 'record': cmd_record, 'figures': cmd_figures}[args.command](args)


if __name__ == '__main__':
    main()

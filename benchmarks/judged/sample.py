"""The judged sample of a real-catalog audit: draw it, lay it out blind for judging by eye, record the verdicts,
and compute the audit's precision from them.

    python benchmarks/judged/sample.py draw --audit AUDIT_DIR --out benchmarks/judged/DIR [--judged FILE ...]
                                            [--compare-top N] [--overlap] [--flags SCORES_DIR]
    python benchmarks/judged/sample.py flags --scores SCORES_DIR --out benchmarks/judged/DIR --judged FILE \
                                             --order order-N.csv
    python benchmarks/judged/sample.py sheets --catalog CATALOG --out benchmarks/judged/DIR --sheets /tmp/sheets \
                                              [--order order-N.csv]
    python benchmarks/judged/sample.py record --out benchmarks/judged/DIR --verdicts VERDICTS.txt [--order order-N.csv]
    python benchmarks/judged/sample.py figures --out benchmarks/judged/DIR --judged benchmarks/judged/DIR/judgments.csv
    python benchmarks/judged/sample.py pairs --audit AUDIT_DIR --judged FILE [--judged FILE ...]

`draw` takes the audit's top TOP issues, RANDOM_UNFLAGGED items drawn with SEED from those it did not flag,
and RANDOM_TAIL drawn from the issues ranked below TOP (sample.csv: id and draw), with --compare-top N every
ranking's top N too, with --overlap the surest item each way of the overlap report's first pairs, with --flags
a nightly's surest flags on items its model never trained on; and a seeded shuffle of the items no earlier
judgments (--judged) cover (order.csv: seq, id). `flags` adds a nightly's surest flags to a folder drawn before,
in a batch of their own (--order). `sheets` draws contact sheets of the shuffled
items (ImageMagick's montage), each captioned with its number, given labels and display name only: no rank, no
draw, no suggestion; they stay outside the repository (they are the catalog's images). `record` turns verdict
lines "SEQ wrong|arguable|right [better articleType]" into judgments.csv (id, verdict, better_type).
`draw` also keeps every ranking's top TOP ids (rankings.csv), so that `figures` recomputes BENCHMARKS.md's figures
from the committed files alone (or from --audit's table): precision at 50, 100 and 150
per ranking (rules/audit.RANKINGS, and the image head alone), counting wrong only and wrong or arguable, and the
wrong share among unflagged items with its 95% Wilson interval, the flags' precision, and the pooled recall
(issues.csv: the list's ids). Rankings whose top items are not all judged say how many are missing. `pairs` lists
the overlap report's pairs beside the verdicts on their items, to check the learned-neighbour rule.
"""
import argparse
import collections
import csv
import glob
import json
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
from pipelines.rules import audit as audit_rules, catalog, overlap, split  # noqa: E402  pylint: disable=wrong-import-position

TOP, RANDOM_UNFLAGGED, RANDOM_TAIL, SEED = 150, 100, 50, 20261203
OVERLAP_PAIRS, FLAGS = 20, 100
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERDICTS = ('wrong', 'arguable', 'right')
PER_SHEET, TILE = 30, '120x160'
CUTS = (50, 100, 150)
IMAGE_HEAD = 'image_head'


def read_audit(audit_dir):
    return pd.read_parquet(os.path.join(audit_dir, artifacts.AUDIT_PARQUET))


def draw(table, seed=SEED, overlap=(), flags=()):
    """[(id, draw)]: the top issues, a random draw of the unflagged and one of the issues below the top; with
    `overlap` (the audit summary's overlap report) the surest item each way of each of its OVERLAP_PAIRS first
    pairs, and with `flags` (ids, surest first) the nightly's FLAGS surest flags."""
    issues = table[table['issue']].sort_values('rank')
    unflagged = sorted(table.loc[~table['issue'] & table['rank'].notna(), 'id'], key=int)  # row order is no input
    tail = sorted(issues['id'].iloc[TOP:], key=int)
    rng = np.random.default_rng(seed)
    picks = [(i, 'top') for i in issues['id'].iloc[:TOP]]
    picks += [(i, 'unflagged') for i in sorted(rng.choice(unflagged, RANDOM_UNFLAGGED, replace=False), key=int)]
    picks += [(i, 'tail') for i in sorted(rng.choice(tail, min(RANDOM_TAIL, len(tail)), replace=False), key=int)]
    picks += [(pair[key][0]['id'], 'overlap') for pair in overlap[:OVERLAP_PAIRS]
              for key in ('examples_a_as_b', 'examples_b_as_a') if pair[key]]
    picks += [(i, 'flags') for i in flags[:FLAGS]]
    return [(str(i), draw_name) for i, draw_name in picks]


def nightly_flags(scores_dir):
    """The ids of a score or nightly output's flags (disagrees or disagrees_type) on val and test items (the ones
    its model never trained on: the split follows from each item's content hash, rules/split.py), surest first:
    the flag's calibrated confidence."""
    frame = pd.read_parquet(glob.glob(os.path.join(scores_dir, 'predictions-*.parquet')),
                            columns=['id', 'content_hash', 'disagrees', 'disagrees_type', 'confidence',
                                     'type_confidence'])
    held_out = frame['content_hash'].map(split.assign_split).isin(['val', 'test'])
    flagged = frame[(frame['disagrees'] | frame['disagrees_type'].fillna(False)) & held_out]
    sureness = flagged['confidence'].where(flagged['disagrees'], flagged['type_confidence'])
    return flagged.assign(sureness=sureness).sort_values(['sureness', 'id'], ascending=[False, True])['id'].tolist()


def read_judgments(paths):
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths if os.path.exists(p)]
    return pd.concat(frames).drop_duplicates('id', keep='last') if frames else pd.DataFrame(
        columns=['id', 'verdict', 'better_type'])


def cmd_draw(args):
    table = read_audit(args.audit)
    with open(os.path.join(args.audit, artifacts.SUMMARY), encoding='utf-8') as f:
        summary = json.load(f)
    flags = nightly_flags(args.flags) if args.flags else ()
    picks = draw(table, overlap=summary.get('overlap', []) if args.overlap else (), flags=flags)
    os.makedirs(args.out, exist_ok=True)
    table.loc[table['issue'], ['id']].to_csv(os.path.join(args.out, 'issues.csv'), index=False)
    pd.DataFrame(picks, columns=['id', 'draw']).to_csv(os.path.join(args.out, 'sample.csv'), index=False)
    pd.DataFrame([(ranking, n, i) for ranking, ids in orders(table).items() for n, i in enumerate(ids, start=1)],
                 columns=['ranking', 'position', 'id']).to_csv(os.path.join(args.out, 'rankings.csv'), index=False)
    extra = {i for ranking in (*audit_rules.RANKINGS, IMAGE_HEAD) for i in ranked_by(table, ranking)[:args.compare_top]}
    print(f'{len(picks)} drawn, {_write_order(args.out, {i for i, _ in picks} | extra, args.judged)} to judge')


def _write_order(out, ids, judged_files, name='order.csv'):
    """A seeded shuffle of the ids that no earlier judgments cover: the order a judge sees them in."""
    judged = set(read_judgments(judged_files or [])['id'])
    to_judge = sorted(set(ids) - judged, key=int)
    order = np.random.default_rng(SEED + 1).permutation(to_judge)
    pd.DataFrame({'seq': range(1, len(order) + 1), 'id': order}).to_csv(os.path.join(out, name), index=False)
    return len(to_judge)


def cmd_flags(args):
    """Adds a nightly's FLAGS surest flags on val and test items to a judged folder's draw, and writes the ones
    no earlier verdict covers to --order, for a batch of their own."""
    flags = nightly_flags(args.scores)[:FLAGS]
    path = os.path.join(args.out, 'sample.csv')
    drawn = pd.read_csv(path, dtype=str) if os.path.exists(path) else pd.DataFrame(columns=['id', 'draw'])
    drawn = pd.concat([drawn[drawn['draw'] != args.draw], pd.DataFrame({'id': flags, 'draw': args.draw})])
    drawn.to_csv(path, index=False)
    ids = set(flags) | set(drawn.loc[drawn['draw'].str.startswith('flags'), 'id'])  # every flags draw, one batch
    print(f'{len(flags)} flags drawn, {_write_order(args.out, ids, args.judged, args.order)} to judge')


def cmd_sheets(args):
    order = pd.read_csv(os.path.join(args.out, args.order), dtype=str)
    rows = {r.id: r._asdict() for r in catalog_rows(args.catalog)}
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
    order = dict(pd.read_csv(os.path.join(args.out, args.order), dtype=str).itertuples(index=False))
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


def figures(ranked, judgments, sample, issues=None):
    """The figures of one audit from the judgments: `ranked` is orders(), `sample` its draw ([(id, draw)]),
    `issues` the ids of its list (the default ranking's issues), for the pooled recall: of every item judged
    wrong in any list or draw, the share the list holds."""
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
    flags = [v for v in drawn['flags'] if v]
    out['flags'] = {'judged': len(flags), 'wrong': flags.count('wrong'),
                    'precision': round(flags.count('wrong') / len(flags), 3) if flags else None,
                    'wilson95': wilson(flags.count('wrong'), len(flags))}
    if issues is not None:
        wrong = {i for i, v in verdict.items() if v == 'wrong'}
        held = len(wrong & set(issues))
        out['pooled_recall'] = {'wrong_judged': len(wrong), 'in_list': held,
                                'recall': round(held / len(wrong), 3) if wrong else None}
    return out


def cmd_figures(args):
    judgments = read_judgments(args.judged)
    if args.audit:
        table = read_audit(args.audit)
        ranked, sample = orders(table), draw(table)
        issues = table.loc[table['issue'], 'id'].tolist()
    else:  # what draw committed: the rankings' tops, the sample and the list
        frame = pd.read_csv(os.path.join(args.out, 'rankings.csv'), dtype={'id': str})
        ranked = {r: rows.sort_values('position')['id'].tolist() for r, rows in frame.groupby('ranking', sort=False)}
        sample = list(pd.read_csv(os.path.join(args.out, 'sample.csv'), dtype=str).itertuples(index=False, name=None))
        listed = os.path.join(args.out, 'issues.csv')
        issues = pd.read_csv(listed, dtype=str)['id'].tolist() if os.path.exists(listed) else None
    result = figures(ranked, judgments, sample, issues)
    print(f'{"ranking":<12} ' + ' '.join(f'P@{c} wrong / +arguable (judged)' for c in CUTS))
    for ranking, row in result['rankings'].items():
        print(f'{ranking:<12} ' + ' '.join(
            f'{row[c]["wrong"]} / {row[c]["wrong_or_arguable"]} ({row[c]["judged"]}/{c})' for c in CUTS))
    u = result['unflagged']
    print(f'random unflagged: {u["wrong"]} wrong of {u["judged"]} judged = {u["rate"]} (95% Wilson '
          f'{u["wilson95"][0]}-{u["wilson95"][1]}), {u["arguable"]} arguable; verdicts per draw (None: not judged): '
          f'{result["draws"]}')
    if result['flags']['judged']:
        f = result['flags']
        print(f'nightly flags on val and test: {f["wrong"]} wrong of {f["judged"]} judged = {f["precision"]} (95% '
              f'Wilson {f["wilson95"][0]}-{f["wilson95"][1]})')
    if result.get('pooled_recall'):
        r = result['pooled_recall']
        print(f'pooled recall: the list holds {r["in_list"]} of the {r["wrong_judged"]} items judged wrong anywhere '
              f'= {r["recall"]}')
    if args.quote:
        with open(args.quote, 'w', encoding='utf-8') as f:
            json.dump(quoted(args, ranked, judgments, result), f, indent=1)
            f.write('\n')
        print(f'quoted in {args.quote}')
    return result


def quoted(args, ranked, judgments, result, count=100):
    """What the audit quotes of these figures (rules/judged.py): the list's top `count` verdicts, the unflagged
    draw, and the pooled recall and flags where judged, with the command that wrote them."""
    verdict = dict(zip(judgments['id'], judgments['verdict']))
    top = [verdict.get(i) for i in ranked[args.list_ranking][:count]]
    if None in top:
        raise SystemExit(f'{top.count(None)} of the {args.list_ranking} ranking\'s top {count} are not judged')
    command = ['python benchmarks/judged/sample.py figures --out', _in_repo(args.out),
               *(f'--judged {_in_repo(j)}' for j in args.judged), f'--quote {_in_repo(args.quote)}',
               f'--list-ranking {args.list_ranking}']
    return {'judged_on': os.path.basename(os.path.normpath(args.out)), 'sample': _in_repo(args.out),
            'ranking': args.list_ranking, 'top': {'count': count, **{v: top.count(v) for v in VERDICTS}},
            'unflagged': {k: result['unflagged'][k] for k in ('judged', 'wrong', 'wilson95')},
            'pooled_recall': result.get('pooled_recall'),
            'flags': result['flags'] if result['flags']['judged'] else None,
            'command': ' '.join(command)}


def _in_repo(path):
    return os.path.relpath(os.path.abspath(path), REPO)


def cmd_pairs(args):
    """The overlap report's pairs beside the verdicts on their items: each pair's judged items (given one type,
    likeliest the other) by verdict, so that the learned-neighbour rule can be checked against the judges."""
    table = read_audit(args.audit)
    verdict = dict(zip(*(read_judgments(args.judged)[c] for c in ('id', 'verdict'))))
    pairs = pd.read_csv(os.path.join(args.audit, artifacts.AUDIT_OVERLAP))
    print(f'{"type A":<22} {"type B":<22} {"A->B":>5} {"B->A":>5} {"two-way":>7} learned  judged: wrong / arguable / '
          'right')
    rows = []
    for pair in pairs.head(args.top).itertuples():
        found = [verdict[i] for i in overlap.on_pair(table, pair.type_a, pair.type_b)['id'] if i in verdict]
        counts = [found.count(v) for v in VERDICTS]
        rows.append((pair.learned, *counts))
        print(f'{pair.type_a:<22} {pair.type_b:<22} {pair.a_as_b:>5} {pair.b_as_a:>5} {pair.two_way:>7.2f} '
              f'{str(pair.learned):<8} {" / ".join(map(str, counts))}')
    for learned in (True, False):
        total = np.sum([r[1:] for r in rows if r[0] == learned], axis=0) if any(r[0] == learned for r in rows) else 0
        print(f'{"learned" if learned else "not learned"} pairs\' judged items: wrong / arguable / right = {total}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    p = commands.add_parser('draw')
    p.add_argument('--audit', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--judged', action='append', help='judgments.csv files whose items need no new verdict')
    p.add_argument('--compare-top', type=int, default=0,
                   help='judge every ranking\'s top N too, so that the rankings compare on judged items')
    p.add_argument('--overlap', action='store_true', help='draw the surest item each way of the overlap report\'s '
                                                          f'first {OVERLAP_PAIRS} pairs')
    p.add_argument('--flags', metavar='SCORES_DIR', help=f'draw the {FLAGS} surest flags on val and test items of a '
                                                         'score or nightly output')
    p = commands.add_parser('flags')
    p.add_argument('--scores', required=True, help='a score or nightly output')
    p.add_argument('--out', required=True)
    p.add_argument('--judged', action='append', help='judgments.csv files whose items need no new verdict')
    p.add_argument('--order', default='order.csv', help='where the batch to judge goes, in --out')
    p.add_argument('--draw', default='flags', help='the draw\'s name in sample.csv (default: flags, the one whose '
                                                   'precision `figures` states)')
    p = commands.add_parser('sheets')
    p.add_argument('--catalog', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--sheets', required=True)
    p.add_argument('--order', default='order.csv', help='the batch to lay out, in --out')
    p = commands.add_parser('record')
    p.add_argument('--out', required=True)
    p.add_argument('--verdicts', required=True)
    p.add_argument('--order', default='order.csv', help='the batch the verdicts\' numbers refer to, in --out')
    p = commands.add_parser('figures')
    p.add_argument('--audit', help='an audit to rank from (default: the rankings and sample committed in --out)')
    p.add_argument('--out', help='a judged folder: its rankings.csv and sample.csv')
    p.add_argument('--judged', action='append', required=True)
    p.add_argument('--quote', metavar='FILE', help='write what the audit quotes of these figures (schemas/judged.json)')
    p.add_argument('--list-ranking', default=audit_rules.FUSED, help='the ranking whose list was judged (for --quote)')
    p = commands.add_parser('pairs')
    p.add_argument('--audit', required=True)
    p.add_argument('--judged', action='append', required=True)
    p.add_argument('--top', type=int, default=40)
    args = parser.parse_args(argv)
    {'draw': cmd_draw, 'flags': cmd_flags, 'sheets': cmd_sheets, 'record': cmd_record, 'figures': cmd_figures,
     'pairs': cmd_pairs}[args.command](args)


if __name__ == '__main__':
    main()

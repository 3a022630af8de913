"""Two days of a synthetic catalog for the nightly tests, and reading back what a nightly published."""
import glob
import os
import shutil

import pyarrow.parquet as pq

from pipelines.jobs import synth
from pipelines.rules import catalog
from pipelines.storage import state

DAY1_ROWS = 300


def _write_day(path, styles, jpegs, malformed=()):
    synth.write_catalog(path, styles, jpegs)
    with open(catalog.styles_path(path), 'a', encoding='utf-8') as f:
        f.writelines(f'{line}\n' for line in malformed)


def write_days(root):
    """Day 1, and day 2 with 50 new items, 20 changed labels, 10 removed items and 5 malformed rows; day 2's
    unchanged images have day 1's modification times."""
    styles, jpegs = synth.generate(DAY1_ROWS, seed=21)
    _write_day(str(root / 'day1'), styles, jpegs)
    active = [r for r in styles if r['id'] in jpegs]
    removed = {r['id'] for r in active[:10]}
    changed = {r['id'] for r in active[10:30]}
    donors = [r for r in active[30:] if r['articleType'] != active[10]['articleType']]
    day2 = []
    for row in styles:
        if row['id'] in removed:
            continue
        if row['id'] in changed:
            donor = next(d for d in donors if d['articleType'] != row['articleType'])
            row = dict(row, **{c: donor[c] for c in catalog.LABEL_COLUMNS})
        day2.append(row)
    more, more_jpegs = synth.generate(DAY1_ROWS, seed=22)
    new = [r for r in more if r['id'] in more_jpegs and r['id'] not in jpegs][:50]
    day2 += new
    day2_jpegs = {i: b for i, b in jpegs.items() if i not in removed}
    day2_jpegs.update((r['id'], more_jpegs[r['id']]) for r in new)
    malformed = [f'{990000 + i},Men,Apparel,Topwear' for i in range(5)]
    _write_day(str(root / 'day2'), day2, day2_jpegs, malformed)
    for item_id, data in day2_jpegs.items():  # as one folder updated in place: an unchanged file keeps its time
        if jpegs.get(item_id) == data:
            shutil.copystat(catalog.image_path(str(root / 'day1'), item_id), catalog.image_path(str(root / 'day2'),
                                                                                               item_id))
    return {'root': root, 'day1': str(root / 'day1'), 'day2': str(root / 'day2'), 'active1': {r['id'] for r in active},
            'removed': removed, 'changed': changed, 'new': {r['id'] for r in new},
            'malformed': {str(990000 + i) for i in range(5)}}


def published(state_dir):
    """{id: record} of the catalog CURRENT points at; fails on a duplicate id."""
    run_dir = state.run_path(state_dir, state.current_run(state_dir))
    records = pq.ParquetDataset(glob.glob(os.path.join(run_dir, 'catalog-*.parquet'))).read().to_pylist()
    by_id = {r['id']: r for r in records}
    assert len(by_id) == len(records), 'an id is published twice'
    return by_id

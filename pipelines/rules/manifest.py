"""The prepare job's manifest: counts that reconcile, the balance table, duplicate-image groups, the relabel."""
import collections

from pipelines.rules import catalog
from pipelines.rules.balance import balance_figures
from pipelines.rules.split import SPLITS
from pipelines.rules.taxonomy import UNKNOWN

RELABEL_SAMPLE_SIZE = 20


def check_reconciled(rows_read, **parts):
    """The promise of every job: each row read is accounted for by exactly one of `parts` (kept,
    scored, quarantined, ...). Raises before anything is published when it is not."""
    if rows_read != sum(parts.values()):
        accounted = ', '.join(f'{name} {n}' for name, n in parts.items())
        raise RuntimeError(f'counts do not reconcile: read {rows_read}, {accounted}; nothing was published')


def count_keys(summary):
    """The counters one kept row adds to."""
    keys = [('rows_kept', ''), ('label', summary['label']), ('masterCategory', summary['masterCategory']),
            ('subCategory', summary['subCategory']), ('articleType', summary['articleType']),
            ('label_combo', (summary['masterCategory'], summary['subCategory'], summary['articleType'],
                             summary['class_name']))]
    if summary['split']:
        keys.append((f'class_counts.{summary["split"]}', summary['class_name']))
    if summary['relabel'] is not None:
        keys.append(('relabelled_to', summary['class_name']))
    return keys


def duplicate_group(keyed):
    content_hash, members = keyed
    members = sorted(members)
    if len(members) > 1:
        yield {'content_hash': content_hash, 'ids': [m[0] for m in members],
               'labels': sorted({m[1] for m in members}), 'classes': sorted({m[2] for m in members})}


def repaired_lines(repaired):
    """The manifest's account of lines whose display name held unquoted commas (kept, joined back)."""
    lines = sorted(repaired, key=lambda r: r['line_number'])
    return {'count': len(lines), 'lines': lines}


def build(rows_read, counts, quarantined_by_reason, missing_image_ids, duplicate_groups, relabel_sample,
          orphan_images, taxonomy_dict, runner, overrides_summary=None, repaired=(), attribute_overrides_summary=None):
    """The manifest dict; rows_read = rows_kept + rows_quarantined is checked by the caller. `overrides_summary`
    and `attribute_overrides_summary` (overrides.summary) are None when no such overrides were given."""
    class_counts = {split: dict(sorted(counts.get(f'class_counts.{split}', {}).items())) for split in SPLITS}
    class_totals = collections.Counter()
    for split_counts in class_counts.values():
        class_totals.update(split_counts)
    relabelled = counts.get('relabelled_to', {})
    conflicting = [g for g in duplicate_groups if len(g['labels']) > 1 or len(g['classes']) > 1]
    return {
        'rows_read': rows_read,
        'rows_kept': counts.get('rows_kept', {}).get('', 0),
        'rows_quarantined': sum(quarantined_by_reason.values()),
        'quarantined_by_reason': dict(sorted(quarantined_by_reason.items())),
        'missing_image_ids': sorted(missing_image_ids, key=int),
        'orphan_images': orphan_images,
        'labels_before_relabel': dict(sorted(counts.get('label', {}).items())),
        'value_counts': {column: dict(sorted(counts.get(column, {}).items())) for column in catalog.LABEL_COLUMNS},
        'label_combos': sorted([*combo, n] for combo, n in counts.get('label_combo', {}).items()),
        'class_counts': class_counts,
        'balance': balance_figures(counts, class_totals),
        'relabel': {
            'source_label': taxonomy_dict['relabel_source'],
            'min_similarity': taxonomy_dict['relabel_min_similarity'],
            'matched': sum(n for label, n in relabelled.items() if label != UNKNOWN),
            'unknown': relabelled.get(UNKNOWN, 0),
            'by_class': dict(sorted(relabelled.items())),
            'sample': relabel_sample,
        },
        'duplicate_images': {
            'groups': len(duplicate_groups),
            'ids': sum(len(g['ids']) for g in duplicate_groups),
            'conflicting_groups': len(conflicting),
            'conflicting': sorted(conflicting, key=lambda g: g['ids']),
        },
        'taxonomy_version': taxonomy_dict['version'],
        'runner': runner,
        'overrides': overrides_summary,
        'attribute_overrides': attribute_overrides_summary,
        'repaired': repaired_lines(repaired),
    }

"""Counts that reconcile: what a job read, kept and quarantined, gathered in Beam and written last."""
import collections
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import catalog, publish
from pipelines.balance import balance_figures
from pipelines.read import CountReasons
from pipelines.split import SPLITS
from pipelines.taxonomy import UNKNOWN, Taxonomy

RELABEL_SAMPLE_SIZE = 20


def _count_keys(summary):
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


class CountersFn(beam.CombineFn):
    """Elements -> {counter name: {key: count}}, for the (counter name, key) pairs `keys_fn` gives each."""

    def __init__(self, keys_fn):
        super().__init__()
        self._keys_fn = keys_fn

    def create_accumulator(self):
        return collections.defaultdict(collections.Counter)

    def add_input(self, accumulator, element):
        for name, key in self._keys_fn(element):
            accumulator[name][key] += 1
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            for name, counter in accumulator.items():
                merged[name].update(counter)
        return merged

    def extract_output(self, accumulator):
        return {name: dict(counter) for name, counter in accumulator.items()}


def _duplicate_group(keyed):
    content_hash, members = keyed
    members = sorted(members)
    if len(members) > 1:
        yield {'content_hash': content_hash, 'ids': [m[0] for m in members],
               'labels': sorted({m[1] for m in members}), 'classes': sorted({m[2] for m in members})}


class DuplicateImages(beam.PTransform):
    """Row summaries -> one dict per group of byte-identical images (ids, their labels and classes)."""

    def expand(self, summaries):
        return (summaries
                | 'key by content hash' >> beam.Map(
                    lambda s: (s['content_hash'], (s['id'], s['label'], s['class_name'])))
                | 'group identical images' >> beam.GroupByKey()
                | 'keep groups of two or more' >> beam.FlatMap(_duplicate_group))


def build(rows_read, counts, quarantined_by_reason, missing_image_ids, duplicate_groups, relabel_sample,
          orphan_images, taxonomy_dict, runner):
    """The manifest dict; rows_read = rows_kept + rows_quarantined is checked by the caller."""
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
    }


def write_json(path, data):
    with FileSystems.create(path, mime_type='application/json') as f:
        f.write((json.dumps(data, indent=1, ensure_ascii=False, sort_keys=False) + '\n').encode('utf-8'))


def read_json(path):
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode('utf-8'))


def _write_metadata(_, output, runner, rows_read, counts, quarantined_by_reason, missing_image_ids,
                    duplicate_groups, relabel_sample, orphan_images, taxonomy_dict):
    taxonomy = Taxonomy.from_dict(taxonomy_dict)
    with FileSystems.create(FileSystems.join(output, 'taxonomy.json')) as f:
        f.write(taxonomy.to_json().encode('utf-8'))
    with FileSystems.create(FileSystems.join(output, 'labels.txt')) as f:
        f.write(''.join(f'{name}\n' for name in taxonomy.classes).encode('utf-8'))
    data = build(rows_read, counts, quarantined_by_reason, missing_image_ids, duplicate_groups,
                          relabel_sample, orphan_images, taxonomy_dict, runner)
    write_json(FileSystems.join(output, publish.MANIFEST), data)


class WriteManifest(beam.PTransform):
    """The job's counting branches -> labels.txt, taxonomy.json and manifest.json under `output`."""

    def __init__(self, output, runner, taxonomy, rows_read, summaries, quarantine, orphan_images):
        super().__init__()
        self._output, self._runner = output, runner
        self._taxonomy, self._rows_read, self._summaries = taxonomy, rows_read, summaries
        self._quarantine, self._orphan_images = quarantine, orphan_images

    def expand(self, pbegin):
        side = beam.pvalue
        counts = self._summaries | 'count kept rows' >> beam.CombineGlobally(CountersFn(_count_keys))
        by_reason = self._quarantine | 'count per reason' >> CountReasons()
        missing = (self._quarantine
                   | 'missing images only' >> beam.Filter(lambda r: r['reason'] == catalog.MISSING_IMAGE)
                   | 'missing id' >> beam.Map(lambda r: r['id']))
        duplicates = self._summaries | 'find duplicate images' >> DuplicateImages()
        relabel_sample = (self._summaries
                          | 'relabelled only' >> beam.Filter(lambda s: s['relabel'] is not None)
                          | 'relabel record' >> beam.Map(lambda s: {'id': s['id'], 'class': s['class_name'],
                                                                    **s['relabel']})
                          | 'first relabelled ids' >> beam.combiners.Top.Of(
                              RELABEL_SAMPLE_SIZE, key=lambda r: int(r['id']), reverse=True))
        orphans = self._orphan_images | 'count orphan images' >> beam.combiners.Count.Globally()
        return (pbegin
                | 'once' >> beam.Create([None])
                | 'write manifest' >> beam.Map(
                    _write_metadata, self._output, self._runner,
                    side.AsSingleton(self._rows_read), side.AsSingleton(counts), side.AsDict(by_reason),
                    side.AsList(missing), side.AsList(duplicates), side.AsSingleton(relabel_sample),
                    side.AsSingleton(orphans), side.AsSingleton(self._taxonomy)))

"""What a scoring run found, in numbers and samples: built from the counts, and rendered as text
(storage/results.py writes them)."""
from pipelines.rules import attributes, catalog, judged, neighbours, predictions
from pipelines.rules.taxonomy import UNKNOWN

SAMPLE_SIZE = 16
TOP_DISAGREEMENTS = 20


def brief(record):
    """What a sample or a top-list keeps of a Prediction."""
    return predictions.as_dict(record, ('id', 'productDisplayName', 'given_class', 'predicted_class', 'confidence',
                                        'given_class_probability', 'image_path'))


def prediction_keys(record):
    """The (counter, key) pairs one Prediction adds to (for CountersFn)."""
    keys = [('scored', ''), ('predicted_class', record.predicted_class)]
    if record.reviewed_class:
        keys.append(('reviewed', ''))
    if catalog.empty_labels(record.labels):
        keys.append(('unlabelled', ''))
    if record.given_class == UNKNOWN:
        keys.append(('unknown_labelled', record.predicted_class))
        keys.append(('needs_review' if record.needs_review else 'filled_in', ''))
    if record.disagrees:
        keys.append(('disagreements', (record.given_class, record.predicted_class)))
    if record.disagrees_type:
        keys.append(('type_disagreements', (record.articleType, record.predicted_type)))
    if record.evidence:
        keys.append(('flags', ('disagrees' if record.disagrees else 'disagrees_type', record.evidence)))
    if record.neighbour_type:
        keys.append(('neighbour_types', (record.articleType, record.neighbour_type)))
    if placed_apart(record):
        keys.append(('placements', (record.given_class, record.predicted_class)))
    if record.type_known is False:
        keys.append(('type_unknown', ''))
    for attribute in attributes.ATTRIBUTES:
        column = attributes.COLUMN[attribute]
        if getattr(record, f'{column}_filled'):
            keys.append(('attributes_filled', column))
        if getattr(record, f'disagrees_{column}', None):
            keys.append(('attribute_flags', (column, getattr(record, f'{column}_evidence'))))
    return keys


def placed_apart(record):
    """Whether the model agrees with the given articleType but not with its Class: the given masterCategory /
    subCategory are not the type's usual ones. A placement for the taxonomy's owner, never a flag."""
    return bool(record.predicted_type and record.predicted_type == record.articleType
                and record.given_class not in (UNKNOWN, record.predicted_class))


def _by_pair(counted, order=lambda pair: pair):
    """{(given, predicted): count} as a list of dicts, the most common pair first (ties by `order` of the pair)."""
    return [{'given': given, 'predicted': predicted, 'count': n}
            for (given, predicted), n in sorted(counted.items(), key=lambda kv: (-kv[1], order(kv[0])))]


def build_summary(counts, by_reason, unknown_sample, top_disagreements, thresholds, max_given_probability,
                  flag_fit=None, model_kind=None, max_given_type_probability=None, attributes_predicted=()):
    """The summary dict (with image paths in the samples, for the picture grids).

    `unlabelled` counts scored rows with an empty label column (a subset of `scored`, and of the Unknown
    items labelled); of the Unknown items labelled, `filled_in` reached `accept_min_confidence` and
    `needs_review` did not (predictions.Thresholds). `model_kind` says whether the model gave the whole label
    (exported_model.ExportedModel.kind); `flags_by_evidence` counts flags by kind and evidence, and
    `type_disagreements` the articleType flags (both empty for an image-only model). `attributes` counts the
    attribute values filled in and flagged (by evidence) of the `attributes_predicted` (rules/attributes.py)."""
    pairs = counts.get('disagreements', {})
    unknown = counts.get('unknown_labelled', {})
    type_pairs = counts.get('type_disagreements', {})
    by_evidence, attribute_flags = {}, {}
    for (kind, evidence), n in sorted(counts.get('flags', {}).items()):
        by_evidence.setdefault(kind, {})[evidence] = n
    for (column, evidence), n in sorted(counts.get('attribute_flags', {}).items()):
        attribute_flags.setdefault(column, {})[evidence] = n
    return {
        'model_kind': model_kind,
        'type_unknown': counts.get('type_unknown', {}).get('', 0),
        'type_disagreements': {
            'count': sum(type_pairs.values()), 'max_given_type_probability': max_given_type_probability,
            'by_pair': _by_pair(type_pairs, str)},
        'flags_by_evidence': by_evidence,
        'scored': counts.get('scored', {}).get('', 0),
        'unlabelled': counts.get('unlabelled', {}).get('', 0),
        'reviewed': counts.get('reviewed', {}).get('', 0),
        'quarantined': sum(by_reason.values()),
        'quarantined_by_reason': dict(sorted(by_reason.items())),
        'predicted_class_counts': dict(sorted(counts.get('predicted_class', {}).items())),
        'unknown_labelled': {'count': sum(unknown.values()), 'by_class': dict(sorted(unknown.items())),
                             'accept_min_confidence': thresholds.accept_min_confidence,
                             'filled_in': counts.get('filled_in', {}).get('', 0),
                             'needs_review': counts.get('needs_review', {}).get('', 0),
                             'sample': unknown_sample},
        'disagreements': {
            'count': sum(pairs.values()), 'min_confidence': thresholds.disagree_min_confidence,
            'max_given_class_probability': max_given_probability, 'fit': flag_fit,
            'warning': predictions.flag_warning(max_given_probability, flag_fit),
            'by_pair': _by_pair(pairs),
            'top': top_disagreements},
        'neighbours': dict(thresholds.neighbours.summary(),  # declared pairs: never flagged
                           count=sum(counts.get('neighbour_types', {}).values()),
                           by_pair=_by_pair(counts.get('neighbour_types', {}))),
        'placements': {'count': sum(counts.get('placements', {}).values()),
                       'by_pair': _by_pair(counts.get('placements', {}))},
        'attributes': {'predicted': [attributes.COLUMN[a] for a in attributes_predicted],
                       'filled': dict(sorted(counts.get('attributes_filled', {}).items())),
                       'flags_by_evidence': attribute_flags},
    }


def _full_label_lines(summary):
    if summary.get('model_kind') is None:
        return []
    if summary['type_disagreements']['max_given_type_probability'] is None:
        return [f'model: {summary["model_kind"]}: no articleType was predicted, flagged or filled in']
    types = summary['type_disagreements']
    lines = [f'model: {summary["model_kind"]}',
             f'articleType disagreements (Class right, type likely wrong, the given type at most '
             f'{types["max_given_type_probability"]:.4g}): {types["count"]}']
    lines += [f'  {pair["given"]} -> {pair["predicted"]}: {pair["count"]}' for pair in types['by_pair'][:10]]
    lines.append('flags by evidence: ' + '; '.join(
        f'{kind} ' + ', '.join(f'{evidence} {n}' for evidence, n in by.items())
        for kind, by in summary['flags_by_evidence'].items()) if summary['flags_by_evidence'] else
        'flags by evidence: none')
    lines.append(f'items of an articleType the model does not predict (never flagged for it): '
                 f'{summary["type_unknown"]}')
    return lines + _attribute_lines(summary.get('attributes', {}))


def _attribute_lines(counted):
    if not counted.get('predicted'):
        return ['attributes (gender, colour, usage, season): not predicted by this release (no attribute heads): '
                'left empty']
    flags = counted['flags_by_evidence']
    return [f'attributes predicted: {", ".join(counted["predicted"])}; filled in: '
            + (', '.join(f'{column} {n}' for column, n in counted['filled'].items()) or 'none'),
            'attribute flags by evidence: ' + ('; '.join(
                f'{column} ' + ', '.join(f'{evidence} {n}' for evidence, n in by.items())
                for column, by in flags.items()) or 'none')]


def summary_text(summary):
    """summary.json for a reader in a hurry."""
    lines = [f'model {summary["model_version"]} (taxonomy {summary["taxonomy_version"]}), '
             f'runner {summary["runner"]}',
             f'rows read {summary["rows_read"]}: scored {summary["scored"]}, '
             f'quarantined {summary["quarantined"]} {summary["quarantined_by_reason"]}; '
             f'{summary["unlabelled"]} scored rows had an empty label column',
             f'{summary["wall_seconds"]:.1f} s, {summary["images_per_second"]:.1f} images/s end to end '
             '(start-up included)',
             f'Unknown items now labelled: {summary["unknown_labelled"]["count"]} '
             f'{summary["unknown_labelled"]["by_class"]}',
             f'  filled in with calibrated confidence >= {summary["unknown_labelled"]["accept_min_confidence"]}: '
             f'{summary["unknown_labelled"]["filled_in"]}; marked needs_review: '
             f'{summary["unknown_labelled"]["needs_review"]}']
    disagreements = summary['disagreements']
    lines.append(f'disagreements (given class known, predicted otherwise with calibrated confidence >= '
                 f'{disagreements["min_confidence"]} and the given class at most '
                 f'{disagreements["max_given_class_probability"]:.4g}): {disagreements["count"]}')
    quoted = judged.flags_line(judged.load())
    if quoted:
        lines.append(f'  {quoted}')
    lines += [f'  {pair["given"]} -> {pair["predicted"]}: {pair["count"]}' for pair in disagreements['by_pair']]
    if disagreements.get('warning'):
        lines.append(f'WARNING: {disagreements["warning"]}')
    declared = neighbours.summary_line(summary.get('neighbours', {}), 'never flagged')
    if declared:
        lines.append(declared)
        lines.append(f'neighbours, not flags (neighbour_type): {summary["neighbours"].get("count", 0)}')
        lines += [f'  {pair["given"]} -> {pair["predicted"]}: {pair["count"]}'
                  for pair in summary['neighbours'].get('by_pair', [])]
    placements = summary.get('placements', {})
    if placements.get('count'):
        lines.append(f'placements, not flags (the type agreed, its Class not: the given parents are not the type\'s '
                     f'usual ones): {placements["count"]}')
        lines += [f'  {pair["given"]} -> {pair["predicted"]}: {pair["count"]}' for pair in placements['by_pair'][:10]]
    lines += _full_label_lines(summary)
    return '\n'.join(lines) + '\n'

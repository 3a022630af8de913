"""A catalog's validation verdict: its counts checked against the quarantine limit, its TFDV statistics
against the curated schema and the previous run's statistics (drift)."""
import collections

import tensorflow_data_validation as tfdv

from pipelines.rules import catalog, manifest, schema
from pipelines.rules.balance import balance_figures


def counts(runner, taxonomy_hash, rows_read, by_reason, unlabelled, value_counts, class_counts, type_errors,
           repaired=()):
    """The validation manifest's counts (the verdict is added once the statistics are checked).

    `unlabelled` holds (empty label columns, count) pairs: such rows passed (they are scored, not trained on).
    """
    columns = collections.defaultdict(dict)
    for (column, value), n in value_counts.items():
        columns[column][value] = n
    empty_by_column = collections.Counter()
    for empty, n in unlabelled:
        for column in empty:
            empty_by_column[column] += n
    passed = rows_read - sum(by_reason.values())
    rows_unlabelled = sum(n for _, n in unlabelled)
    return {
        'rows_read': rows_read,
        'rows_passed': passed,
        'rows_quarantined': sum(by_reason.values()),
        'rows_unlabelled': rows_unlabelled,
        'unlabelled_rate': rows_unlabelled / passed if passed else 0.0,
        'empty_label_cells': {column: empty_by_column[column] for column in catalog.LABEL_COLUMNS},
        'quarantined_by_reason': dict(sorted(by_reason.items())),
        'type_errors': {f'{column}={value!r}': n for (column, value), n in sorted(type_errors.items())},
        'balance': balance_figures(columns, class_counts),
        'class_counts': dict(sorted(class_counts.items())),
        'taxonomy_version': taxonomy_hash,
        'runner': runner,
        'repaired': manifest.repaired_lines(repaired),
    }


def check(counts, statistics, curated_schema, baseline, max_quarantine_rate, max_unlabelled_rate=None):
    """Returns (anomalies proto, breaking lines, warning lines) for a run's counts and statistics.

    Unlabelled rows are not quarantined, so they never count in the quarantine rate; their own gate is off
    unless `max_unlabelled_rate` is set."""
    examples = statistics.datasets[0].num_examples if statistics.datasets else 0
    if examples != counts['rows_passed']:
        raise RuntimeError(f'TFDV counted {examples} rows, the reader passed {counts["rows_passed"]}')
    anomalies = tfdv.validate_statistics(statistics, curated_schema, previous_statistics=baseline)
    breaking, warnings = schema.classify_anomalies(anomalies)
    breaking += [f'{key}: not an integer ({n} rows)' for key, n in counts['type_errors'].items()]
    rate = counts['rows_quarantined'] / counts['rows_read'] if counts['rows_read'] else 1.0
    if rate > max_quarantine_rate:
        breaking.append(f'quarantine rate {rate:.2%} is above --max-quarantine-rate {max_quarantine_rate:.2%} '
                        f'({counts["quarantined_by_reason"]})')
    if max_unlabelled_rate is not None and counts['unlabelled_rate'] > max_unlabelled_rate:
        breaking.append(f'unlabelled rate {counts["unlabelled_rate"]:.2%} is above --max-unlabelled-rate '
                        f'{max_unlabelled_rate:.2%} ({counts["empty_label_cells"]} empty label cells)')
    return anomalies, breaking, warnings


def report(counts, breaking, warnings, baseline_path):
    """The validation manifest: the counts with their verdict, what broke or warned, and the baseline checked."""
    return dict(counts, verdict='broken' if breaking else 'valid', breaking=breaking, warnings=warnings,
                baseline=baseline_path)


def anomalies_text(breaking, warnings):
    return ''.join(f'BREAKING {line}\n' for line in breaking) + ''.join(f'WARNING {line}\n' for line in warnings)

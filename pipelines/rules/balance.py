"""The reference notebook's balance measure."""
import math

import scipy.stats

from pipelines.rules.catalog import LABEL_COLUMNS
from pipelines.rules.taxonomy import UNKNOWN


def normalized_entropy(counts):
    """Shannon entropy of `counts` (category -> count) over log(C), C the non-empty categories: 1 is even.

    Fewer than two categories have no spread to measure; that returns 0.0.
    """
    values = [c for c in counts.values() if c > 0]
    if len(values) < 2:
        return 0.0
    return float(scipy.stats.entropy(values) / math.log(len(values)))


def balance_figures(counts_by_column, class_counts):
    """The reference notebook's balance table: each label column's, and Class's over the known classes
    (Unknown left out)."""
    figures = {column: round(normalized_entropy(counts_by_column.get(column, {})), 4) for column in LABEL_COLUMNS}
    figures['Class'] = round(normalized_entropy({k: n for k, n in class_counts.items() if k != UNKNOWN}), 4)
    return figures

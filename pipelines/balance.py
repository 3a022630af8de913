"""The seed report's balance measure."""
import math


def normalized_entropy(counts):
    """`counts` maps category to count. Shannon entropy of the counts over log(C), C the number of non-empty categories: 1 is even.

    Fewer than two categories have no spread to measure; that returns 0.0.
    """
    values = [c for c in counts.values() if c > 0]
    if len(values) < 2:
        return 0.0
    total = sum(values)
    entropy = -sum(c / total * math.log(c / total) for c in values)
    return entropy / math.log(len(values))

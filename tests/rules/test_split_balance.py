import collections
import hashlib
import math

import pytest

from pipelines.rules.balance import normalized_entropy
from pipelines.rules.split import SPLITS, assign_split


def test_split_is_a_pure_function_of_the_hash():
    digest = hashlib.sha256(b'image').hexdigest()
    assert assign_split(digest) == assign_split(digest)


def test_split_fractions_are_72_18_10():
    counts = collections.Counter(assign_split(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(20000))
    assert set(counts) == set(SPLITS)
    assert counts['train'] / 20000 == pytest.approx(0.72, abs=0.015)
    assert counts['val'] / 20000 == pytest.approx(0.18, abs=0.015)
    assert counts['test'] / 20000 == pytest.approx(0.10, abs=0.015)


def test_balance_is_one_for_even_and_lower_for_skewed():
    assert normalized_entropy({'a': 5, 'b': 5, 'c': 5}) == pytest.approx(1.0)
    skewed = normalized_entropy({'a': 90, 'b': 10})
    expected = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(2)
    assert skewed == pytest.approx(expected)
    assert normalized_entropy({'a': 7}) == 0.0
    assert normalized_entropy({'a': 3, 'b': 0}) == 0.0

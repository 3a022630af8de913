"""Deterministic train / val / test assignment from the image content hash.

Hashing the bytes rather than the id keeps byte-identical pictures (the real catalog has 653 such groups)
on one side of the split, and a row's split never changes as the catalog grows.
"""
SPLITS = ('train', 'val', 'test')
FRACTIONS = (0.72, 0.18, 0.10)


def assign_split(content_hash_hex, fractions=FRACTIONS):
    """Maps a hex digest to a split by where its first 64 bits fall in [0, 1)."""
    position = int(content_hash_hex[:16], 16) / 2**64
    bound = 0.0
    for name, fraction in zip(SPLITS, fractions):
        bound += fraction
        if position < bound:
            return name
    return SPLITS[-1]

"""The audit's folds: every labelled item in one of K folds, by a salted hash of its group.

A group is what no model may see one part of while it audits another: items joined by a byte-identical image
or by the same display name once the words that vary between a product's variants are dropped (`variant_name`),
transitively: a name model trained on one variant has learnt its twin's label (the 140 "Catwalk Women <colour>
Flats" are one product line, 130 of them labelled Heels and 10 Flats; the real catalog's groups: docs/labels.md,
"The audit"). A group's key is the smallest content hash among its items, so the folds are a function of the
catalog's content alone.

Salting makes the folds independent of the train / val / test split (which hashes the content unsalted), so
each split spreads evenly over the folds. Within the folds a model trains on, a second salt holds a share of
the groups out for its validation (the best epoch, PreciseBN's check) and its calibration.
"""
import hashlib
import re

FOLD_SALT = 'audit-fold-v1'
HOLDOUT_SALT = 'audit-holdout-v1'
HOLDOUT_FRACTION = 0.15

# An audit model's roles, named as the trainer's splits: it trains on `train`, validates and calibrates on
# `val`, and predicts `test`, the fold it audits.
TRAIN, HOLDOUT, AUDITED = 'train', 'val', 'test'
ROLES = (TRAIN, HOLDOUT, AUDITED)


def _position(salt, content_hash_hex):
    """Where the salted hash's first 64 bits fall in [0, 1)."""
    digest = hashlib.sha256(f'{salt}:{content_hash_hex}'.encode('ascii')).hexdigest()
    return int(digest[:16], 16) / 2**64


def normalised_name(name):
    """A display name as the folds compare it: lower case, words of letters and digits, single spaces."""
    return ' '.join(re.findall(r'[^\W_]+', (name or '').lower()))


# Words that tell one variant of a product from another, picked on the real catalog: its baseColour values'
# words, gender and age group (as normalised_name splits "Boy's"), and sizes.
# Words with a digit (sizes, model numbers, pack counts) are dropped too.
VARIANT_WORDS = frozenset('''
    beige black blue bronze brown burgundy charcoal coffee copper cream fluorescent gold green grey khaki lavender
    lime magenta maroon mauve melange metallic multi mushroom mustard navy nude off olive orange peach pink purple
    red rose rust sea silver skin steel tan taupe teal turquoise white yellow
    men women boys girls boy girl kids kid unisex infant infants baby babies mens womens s teen teens junior juniors
    xs m l xl xxl xxxl small medium large'''.split())


def variant_name(name):
    """A display name as the folds compare it: normalised, without VARIANT_WORDS and words with a digit, so the
    variants of one product line share it."""
    return ' '.join(word for word in normalised_name(name).split()
                    if word not in VARIANT_WORDS and not any(c.isdigit() for c in word))


def group_keys(names, content_hashes):
    """Each item's group key: the smallest content hash among the items joined to it by an identical image or
    an identical non-empty name key, transitively (a union-find over both)."""
    parent = list(range(len(content_hashes)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = {}
    for i, keys in enumerate(zip(content_hashes, names)):
        for kind, key in zip(('image', 'name'), keys):
            if not key:
                continue
            j = first.setdefault((kind, key), i)
            a, b = root(i), root(j)
            if a != b:
                parent[max(a, b)] = min(a, b)
    smallest = {}
    for i, content_hash in enumerate(content_hashes):
        r = root(i)
        smallest[r] = min(smallest.get(r, content_hash), content_hash)
    return [smallest[root(i)] for i in range(len(content_hashes))]


def assign_fold(content_hash_hex, folds):
    """The fold (0 .. folds - 1) of a group key (a content hash)."""
    return min(int(_position(FOLD_SALT, content_hash_hex) * folds), folds - 1)


def is_holdout(content_hash_hex, fraction=HOLDOUT_FRACTION):
    """Whether a group is held out of the training of the models that train on its fold."""
    return _position(HOLDOUT_SALT, content_hash_hex) < fraction


def assign(ids, names, content_hashes, folds):
    """{id: (fold, held out, group key)} of every item, from its display name (its variant_name) and image
    content hash."""
    keys = group_keys([variant_name(name) for name in names], content_hashes)
    return {item_id: (assign_fold(key, folds), is_holdout(key), key) for item_id, key in zip(ids, keys)}


def role(fold, holdout, model_fold):
    """What an item of `fold` is to the model that audits `model_fold`."""
    if fold == model_fold:
        return AUDITED
    return HOLDOUT if holdout else TRAIN


def check_folds(folds, labelled):
    """A one-line reason `folds` cannot audit `labelled` items, or None."""
    if labelled < 1:
        return 'the catalog has no labelled items to audit'
    if folds < 2:
        return f'--folds must be at least 2 (got {folds}): each model must leave a fold out'
    if folds > labelled:
        return f'--folds {folds} is more than the {labelled} labelled items'
    return None


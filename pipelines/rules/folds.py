"""The audit's folds: every labelled item in one of K folds, by a salted hash of its image content.

Salting makes the folds independent of the train / val / test split (which hashes the same content unsalted),
so each split spreads evenly over the folds; hashing the content keeps byte-identical pictures in one fold,
so no model is tested on a copy of an image it trained on. Within the folds a model trains on, a second salt
holds a share of the items out for its validation (the best epoch, PreciseBN's check) and its calibration.
"""
import hashlib

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


def assign_fold(content_hash_hex, folds):
    """The fold (0 .. folds - 1) of an image's content hash."""
    return min(int(_position(FOLD_SALT, content_hash_hex) * folds), folds - 1)


def is_holdout(content_hash_hex, fraction=HOLDOUT_FRACTION):
    """Whether an item is held out of the training of the models that train on its fold."""
    return _position(HOLDOUT_SALT, content_hash_hex) < fraction


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


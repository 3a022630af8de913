"""The columns a shopper filters on besides the category: gender, baseColour, usage and season. The full-labels
model predicts each from the image and the name, as it does the articleType (trainer/model.py); this module
holds what the trainer, the export and the scorer share about them.

- The values are learned from the training split: a value with at least MIN_TRAIN_ITEMS items is the model's
  own, the rarer ones share OTHER. An empty value (or the catalog's 'NA') is missing: it trains nothing and is
  what scoring fills in.
- Declared neighbours (schemas/attribute_groups.json): values of one group, such as Navy Blue and Blue or Casual
  and Smart Casual, which reasonable catalogers could each choose. A prediction in the given value's group never
  flags it, and the flag's threshold is fitted on flips to other groups (rules/flag_fit.py), as the Class flag
  is on flips to other masterCategories. The values of the group ANY (Unisex, Multi) are neighbours of every
  value: a unisex bag given Women, a print given Multi, are the catalog's choice, not a mistake. The groups are
  the declared file's when the model was fitted (`regroup` refits them to the file as it is now).
- Published per attribute (COLUMN names it): `predicted_<c>` and `<c>_confidence` (calibrated); `<c>_filled`
  where the given value was missing and the prediction reaches the fill-in confidence, the type's knob
  (rules/predictions.Thresholds.accept_min_confidence); and for FLAGGED attributes `disagrees_<c>` with its
  `<c>_evidence` ('image', 'name', 'both' or 'combined', the type's rule). Season is filled in, never flagged: a
  catalog's season is when an item was sold, which neither the image nor the name shows.
"""
import collections
import dataclasses
import importlib.resources
import json

import numpy as np

from pipelines import artifacts
from pipelines.storage import files

ATTRIBUTES = ('gender', 'baseColour', 'usage', 'season')
COLUMN = {'gender': 'gender', 'baseColour': 'colour', 'usage': 'usage', 'season': 'season'}
FLAGGED = ('gender', 'baseColour', 'usage')
MISSING = ('', 'NA')
OTHER = '(other)'
ANY = 'any'  # the group whose values are neighbours of every value
MIN_TRAIN_ITEMS = 25
GROUPS_PATH = str(importlib.resources.files('schemas') / artifacts.ATTRIBUTE_GROUPS)
HEADS = {'fused': '', 'image': 'image_', 'name': 'name_'}  # the export's output prefix per head


def output_name(attribute, head='fused'):
    """The export's calibrated probabilities of one attribute's head: gender_probabilities,
    image_colour_probabilities, ..."""
    return f'{HEADS[head]}{COLUMN[attribute]}_probabilities'


def columns(attribute):
    """The published columns of one attribute."""
    column = COLUMN[attribute]
    flagged = (f'disagrees_{column}', f'{column}_evidence') if attribute in FLAGGED else ()
    return (f'predicted_{column}', f'{column}_confidence', f'{column}_filled', *flagged)


def reviewed_column(attribute):
    """The nightly's column of a flagged attribute's value as a reviewer settled it (rules/attribute_reviews.py)."""
    return f'reviewed_{COLUMN[attribute]}'


ALL_COLUMNS = tuple(name for attribute in ATTRIBUTES for name in columns(attribute))
REVIEWED_COLUMNS = tuple(reviewed_column(a) for a in FLAGGED)
FLOAT_COLUMNS = tuple(f'{COLUMN[a]}_confidence' for a in ATTRIBUTES)
BOOL_COLUMNS = (*(f'{COLUMN[a]}_filled' for a in ATTRIBUTES), *(f'disagrees_{COLUMN[a]}' for a in FLAGGED))


def is_missing(value):
    return value is None or value.strip() in MISSING


@dataclasses.dataclass(frozen=True)
class Attributes:
    """Each attribute's values in index order and the group (declared neighbours) of each value."""
    values: dict
    groups: dict

    def index(self, attribute, value):
        """The index an item's given value trains and is judged against: -1 where it is missing, OTHER's where the
        model does not know it."""
        vocabulary = self.values[attribute]
        if is_missing(value):
            return -1
        value = value.strip()  # as the training input looks values up (trainer/data.py)
        if value in vocabulary:
            return vocabulary.index(value)
        return vocabulary.index(OTHER) if OTHER in vocabulary else -1

    def indices(self, attribute, values):
        return np.array([self.index(attribute, v) for v in values], int)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        return cls({k: tuple(v) for k, v in data['values'].items()}, {k: tuple(v) for k, v in data['groups'].items()})


def load_groups(path=GROUPS_PATH):
    """{attribute: {value: group}} from a declared-neighbours file."""
    declared = json.loads(files.read_text(path))
    return {attribute: {value: group for group, members in declared.get(attribute, {}).items() for value in members}
            for attribute in ATTRIBUTES}


def fit(counts, declared_groups, min_train_items=MIN_TRAIN_ITEMS):
    """Attributes from the training split's value counts ({attribute: Counter}); an attribute with fewer than two
    values of its own (data prepared before the column was written) is left out."""
    values, groups = {}, {}
    for attribute in ATTRIBUTES:
        counter = collections.Counter({v: n for v, n in counts.get(attribute, {}).items() if not is_missing(v)})
        own = sorted(v for v, n in counter.items() if n >= min_train_items)
        if len(own) < 2:
            continue
        rare = sum(n for v, n in counter.items() if v not in own)
        values[attribute] = (*own, *([OTHER] if rare else ()))
        groups[attribute] = _grouped(values[attribute], declared_groups.get(attribute, {}))
    return Attributes(values, groups)


def _grouped(values, declared):
    return tuple(declared.get(v, v) for v in values)


def regroup(attributes, declared_groups):
    """`attributes` with each value's group as `declared_groups` ({attribute: {value: group}}) says now."""
    return Attributes(attributes.values, {attribute: _grouped(values, declared_groups.get(attribute, {}))
                                          for attribute, values in attributes.values.items()})


def unflaggable(group):
    """Whether a value of this group is never flagged nor flags another (OTHER: the model does not know it; ANY:
    a neighbour of every value)."""
    return group in (OTHER, ANY)


def flagged_many(probabilities, given, groups, threshold, min_confidence=0.0):
    """Whether one head's calibrated probabilities ([n, values]) flag each given value (indices; -1: missing):
    neither it nor the top value is unflaggable, the top value is in another group, at `min_confidence` at least,
    and the given value's probability is at most `threshold` (fitted on val)."""
    probabilities, given = np.asarray(probabilities), np.asarray(given)
    groups = np.asarray(groups)
    closed = np.array([unflaggable(g) for g in groups], bool)
    top = probabilities.argmax(axis=1)
    known = given >= 0
    safe = np.where(known, given, 0)
    rows = np.arange(len(given))
    return (known & ~closed[safe] & ~closed[top] & (groups[top] != groups[safe])
            & (probabilities[rows, top] >= min_confidence) & (probabilities[rows, safe] <= threshold))


def flagged(probabilities, given, groups, threshold, min_confidence=0.0):
    """flagged_many for one item."""
    return bool(flagged_many(np.asarray(probabilities)[None, :], [given], groups, threshold, min_confidence)[0])

"""The full-labels model's vocabulary: which articleTypes it predicts (its leaves), the parents each one gets,
and how a parent's probability comes from its leaves.

The catalog's three levels are not a strict tree: 25 articleTypes sit under more than one (masterCategory,
subCategory), mostly by a handful of items (Tshirts once under Belts). The model predicts the articleType, and
gives each its most common parents in the training split, the rule the review queue already uses to complete
a chosen articleType. On the real catalog that parent is the given one for all but 0.2% of items (94 of 44,446),
while predicting the 169 (master, sub, article) combinations would spread a type's few odd items over leaves of
their own that no image or name can tell apart.

A leaf is an articleType with at least MIN_TRAIN_ITEMS items in the training split whose parents place it in
a trained Class. Below that, a type has on average one item in val and in test: its probability cannot be
calibrated nor its F1 measured, and a model learns little from a handful of names. A rarer type's items are
not dropped: each Class that has some gets one more leaf, "(other) <Class>", which they train, so their Class
is still learnt and checked. The published record says their type is outside what the model knows
(`type_known` false), and they are never flagged for their type. Types placed in the relabelled Free Items
(the articleType "Free Gifts") are not leaves either: their items' Class comes from the name, and they train
their Class's other leaf.

A parent's probability (and the Class's) is the sum of its leaves' probabilities, so a parent is never less sure
than its child.
"""
import collections
import dataclasses
import functools
import json

import numpy as np

MIN_TRAIN_ITEMS = 10
LEVELS = ('masterCategory', 'subCategory', 'articleType')
OTHER = '(other) '  # an other leaf's name: OTHER + its Class


@dataclasses.dataclass(frozen=True)
class Leaves:
    """The leaves in index order, with each one's parents and Class; `classes` is the Class vocabulary
    (index = class_index) the Class probabilities are laid out in."""
    article_types: tuple
    master_categories: tuple
    sub_categories: tuple
    class_names: tuple
    classes: tuple
    min_train_items: int = MIN_TRAIN_ITEMS

    def index(self, article_type, class_name=None):
        """The leaf an item of this articleType and Class trains: its type's, else its Class's other leaf, else -1."""
        return self._index.get(article_type, self._index.get(OTHER + str(class_name), -1))

    def known(self, article_type):
        """Whether the model predicts this articleType (an other leaf is not a type)."""
        return article_type in self._index and not article_type.startswith(OTHER)

    def is_other(self):
        """[leaves] bool: which leaves are other leaves (computed once: the scorer asks for every item)."""
        return self._other

    @functools.cached_property
    def _other(self):
        return np.array([name.startswith(OTHER) for name in self.article_types])

    @functools.cached_property
    def _index(self):
        return {name: i for i, name in enumerate(self.article_types)}

    def vocabulary(self, level):
        """The sorted values of a level ('masterCategory', 'subCategory', 'articleType' or 'Class')."""
        return self._vocabularies[level]

    @functools.cached_property
    def _vocabularies(self):
        out = {level: tuple(sorted(set(self._column(level)))) for level in LEVELS}
        return dict(out, Class=self.classes)

    def _column(self, level):
        return {'masterCategory': self.master_categories, 'subCategory': self.sub_categories,
                'articleType': self.article_types, 'Class': self.class_names}[level]

    def matrix(self, level):
        """[leaves, values of `level`] 0/1: leaf probabilities @ matrix = the level's probabilities."""
        return self._matrices[level]

    @functools.cached_property
    def _matrices(self):
        matrices = {}
        for level in (*LEVELS, 'Class'):
            vocabulary = self.vocabulary(level)
            matrices[level] = np.zeros((len(self.article_types), len(vocabulary)), np.float32)
            for i, value in enumerate(self._column(level)):
                matrices[level][i, vocabulary.index(value)] = 1.0
        return matrices

    def level_probabilities(self, leaf_probabilities, level):
        """Probabilities of a level's values, each the sum of its leaves' ([n, leaves] -> [n, values])."""
        return np.asarray(leaf_probabilities) @ self.matrix(level)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=1)

    def __getstate__(self):  # the cached tables are rebuilt where it is unpickled (a Beam worker)
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def __setstate__(self, state):
        self.__dict__.update(state)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _most_common(counter):
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def fit(item_counts, classes, class_of, min_train_items=MIN_TRAIN_ITEMS):
    """The leaves from the training split's item counts by (masterCategory, subCategory, articleType, Class),
    the Class being the one prepare gave the item; `classes` is the Class vocabulary and `class_of(master, sub,
    article)` the taxonomy's label (before the Free Items relabel). Each type's parents are its most common ones
    (ties: the first in sorted order), and its Class theirs."""
    by_type = collections.defaultdict(collections.Counter)
    for (master, sub, article, _), count in item_counts.items():
        by_type[article][(master, sub)] += count
    rows, known = [], set()
    for article in sorted(by_type):
        master, sub = _most_common(by_type[article])
        class_name = class_of(master, sub, article)
        if sum(by_type[article].values()) >= min_train_items and class_name in classes:
            rows.append((article, master, sub, class_name))
            known.add(article)
    others = collections.defaultdict(collections.Counter)
    for (master, sub, article, class_name), count in item_counts.items():
        if article not in known and class_name in classes:
            others[class_name][(master, sub)] += count
    rows += [(OTHER + class_name, *_most_common(others[class_name]), class_name) for class_name in sorted(others)]
    if not known:
        raise ValueError(f'no articleType has {min_train_items} training items in a trained Class')
    columns = list(zip(*rows))
    return Leaves(*map(tuple, columns), classes=tuple(classes), min_train_items=min_train_items)

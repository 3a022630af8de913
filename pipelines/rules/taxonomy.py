"""The product Class: derived once from a catalog's counts (the reference notebook's procedure), saved,
versioned, applied.

The reference notebook's thresholds are absolute counts, so deriving on every run would change the class set with the
catalog's size (a 90% sample loses Cufflinks and Apparel Set). Prepare therefore applies the taxonomy
shipped in `schemas/taxonomy.json` unless told to derive a new one.
"""
import collections
import dataclasses
import functools
import hashlib
import importlib.resources
import json
import typing

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.rules import catalog
from pipelines.rules.relabel import Relabeler
from pipelines.storage import files

SUB_CATEGORY_MIN_COUNT = 105
MIN_LABEL_COUNT = 5
PROMOTED_ARTICLE_TYPES = ('Shirts', 'Tshirts')
RELABEL_SOURCE = 'Free Items'
RELABEL_MIN_SIMILARITY = 0.17
UNKNOWN = 'Unknown'

SHIPPED_PATH = str(importlib.resources.files('schemas') / artifacts.TAXONOMY)


class Placement(typing.NamedTuple):
    """A row's place in the taxonomy (Taxonomy.class_of)."""
    label: typing.Optional[str]
    class_name: str
    relabel: typing.Optional[dict] = None  # best_match and similarity, for a relabelled row
    reason: typing.Optional[str] = None  # the quarantine reason code when the label is None
    detail: typing.Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Taxonomy:
    """Rules that map (masterCategory, subCategory, articleType) to a label, and the counts behind them."""
    promoted_sub_categories: tuple
    promoted_article_types: tuple
    labels: tuple
    dropped_labels: dict
    combo_counts: tuple
    sub_category_min_count: int = SUB_CATEGORY_MIN_COUNT
    min_label_count: int = MIN_LABEL_COUNT
    relabel_source: str = RELABEL_SOURCE
    relabel_min_similarity: float = RELABEL_MIN_SIMILARITY

    @property
    def classes(self):
        """The trained vocabulary: every label but the relabel source, sorted; index = class_index."""
        return tuple(label for label in self.labels if label != self.relabel_source)

    @functools.cached_property
    def rules_hash(self):
        """A hash of the rules (not of the counts): equal hashes label every row alike. Published as the
        taxonomy's `version` (taxonomy.json) and as `taxonomy_version` in the jobs' outputs. Computed once per
        object: a job compares it for every row."""
        rules = {k: v for k, v in self._fields_dict().items() if k != 'combo_counts'}
        digest = hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()
        return f'taxonomy-{digest[:12]}'

    def raw_label(self, master, sub, article):
        if article in self.promoted_article_types:
            return article
        if sub in self.promoted_sub_categories:
            return sub
        return master

    def classify(self, master, sub, article):
        """Returns (label, None, None) or (None, quarantine reason, detail)."""
        label = self.raw_label(master, sub, article)
        if label in self.labels:
            return label, None, None
        if label in self.dropped_labels:
            return None, catalog.LABEL_BELOW_MIN_COUNT, (
                f'label {label!r} had {self.dropped_labels[label]} samples, fewer than {self.min_label_count}')
        return None, catalog.LABEL_OUTSIDE_TAXONOMY, (
            f'label {label!r} (from {master} / {sub} / {article}) is not in {self.rules_hash}')

    def class_of(self, labels, display_name):
        """Where an item with `labels` ((masterCategory, subCategory, articleType)) and `display_name` belongs: a
        Placement with its taxonomy label and its class, the Free Items relabel applied (Unknown where the
        display name matches no class well enough), or, for labels the taxonomy drops or does not cover, or that
        are empty, no label, class Unknown and the reason."""
        empty = catalog.empty_labels(labels)
        if empty:
            return Placement(None, UNKNOWN, None, catalog.EMPTY_LABEL, f'empty {", ".join(empty)}')
        label, reason, detail = self.classify(*labels)
        if label is None:
            return Placement(None, UNKNOWN, None, reason, detail)
        if label != self.relabel_source:
            return Placement(label, label)
        class_name, best, similarity = self.relabeler.match(display_name)
        return Placement(label, class_name or UNKNOWN, {'best_match': best, 'similarity': similarity})

    @functools.cached_property
    def relabeler(self):
        """The Free Items relabeler, fitted on first use (once per Taxonomy object)."""
        return Relabeler(self.classes, self.article_types_by_class(), self.relabel_min_similarity)

    def master_categories(self):
        """Each class's most common masterCategory (the group label noise is drawn within, rules/noise.py)."""
        counts = collections.defaultdict(collections.Counter)
        for master, sub, article, count in self.combo_counts:
            label = self.raw_label(master, sub, article)
            if label in self.classes:
                counts[label][master] += count
        return {label: counter.most_common(1)[0][0] for label, counter in sorted(counts.items())}

    def article_types_by_class(self):
        """Each class's article types, from the counts the taxonomy came from (the relabel's vocabulary)."""
        by_class = collections.defaultdict(set)
        for master, sub, article, _ in self.combo_counts:
            label = self.raw_label(master, sub, article)
            if label in self.labels:
                by_class[label].add(article)
        return {label: sorted(articles) for label, articles in sorted(by_class.items())}

    def _fields_dict(self):
        data = dataclasses.asdict(self)
        data['promoted_sub_categories'] = list(self.promoted_sub_categories)
        data['promoted_article_types'] = list(self.promoted_article_types)
        data['labels'] = list(self.labels)
        data['combo_counts'] = [list(c) for c in self.combo_counts]
        return data

    def to_dict(self):
        return dict(self._fields_dict(), version=self.rules_hash)

    @classmethod
    def from_dict(cls, data):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields - {'version'}
        if unknown:
            raise UserError(f'taxonomy: unknown field(s) {sorted(unknown)}')
        taxonomy = cls(**{
            **{k: v for k, v in data.items() if k in fields},
            'promoted_sub_categories': tuple(data['promoted_sub_categories']),
            'promoted_article_types': tuple(data['promoted_article_types']),
            'labels': tuple(data['labels']),
            'combo_counts': tuple(tuple(c) for c in data['combo_counts']),
        })
        if 'version' in data and data['version'] != taxonomy.rules_hash:
            raise UserError(f'taxonomy: stated version {data["version"]} does not match its rules '
                            f'({taxonomy.rules_hash}); was it edited by hand?')
        return taxonomy

    def to_json(self):
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + '\n'


def load(path=SHIPPED_PATH):
    try:
        data = files.read_json(path)
    except (OSError, IOError, ValueError) as e:
        raise UserError(f'cannot read taxonomy {path}: {e}') from e
    try:
        return Taxonomy.from_dict(data)
    except (KeyError, TypeError) as e:
        raise UserError(f'taxonomy {path} is malformed: {e}') from e


def derive(combo_counts, sub_category_min_count=SUB_CATEGORY_MIN_COUNT, min_label_count=MIN_LABEL_COUNT,
           promoted_article_types=PROMOTED_ARTICLE_TYPES):
    """The reference notebook's procedure over counts of (masterCategory, subCategory, articleType) combinations.

    Start from masterCategory; a subCategory with more than `sub_category_min_count` samples replaces it;
    the promoted article types replace both; labels with fewer than `min_label_count` samples are dropped.
    """
    sub_counts = collections.Counter()
    for (_, sub, _), n in combo_counts.items():
        sub_counts[sub] += n
    promoted_subs = tuple(sorted(s for s, n in sub_counts.items() if n > sub_category_min_count))
    partial = Taxonomy(promoted_sub_categories=promoted_subs,
                       promoted_article_types=tuple(sorted(promoted_article_types)),
                       labels=(), dropped_labels={}, combo_counts=())
    label_counts = collections.Counter()
    for (master, sub, article), n in combo_counts.items():
        label_counts[partial.raw_label(master, sub, article)] += n
    return dataclasses.replace(
        partial,
        labels=tuple(sorted(label for label, n in label_counts.items() if n >= min_label_count)),
        dropped_labels={label: n for label, n in sorted(label_counts.items()) if n < min_label_count},
        combo_counts=tuple(sorted((m, s, a, n) for (m, s, a), n in combo_counts.items())),
        sub_category_min_count=sub_category_min_count,
        min_label_count=min_label_count)

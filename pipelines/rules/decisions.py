"""Reviewers' decisions on flagged and filled-in items: what one is, when it settles an item, and what the
settled ones say about the flags. They are kept in SQLite by pipelines/storage/reviews.py.

A decision holds what the reviewer saw (model, catalog version, the item's fingerprint: label columns, display
name, image content hash), so a decision on an item that has changed since is recognisably stale.
"""
import collections
import dataclasses
import itertools
import typing

from pipelines.rules import changes, predictions

ACCEPT, RELABEL, KEEP, NOT_SURE = 'accept', 'relabel', 'keep', 'not_sure'
DECISIONS = (ACCEPT, RELABEL, KEEP, NOT_SURE)
# Decisions that settle an item's label: it is not flagged again until its fingerprint changes.
SETTLING = (ACCEPT, RELABEL, KEEP)
# How a decision's articleType was chosen (overrides record it): the only type of the predicted class, the given
# type (it lies in the predicted class, or the reviewer kept it), the type the display name matches, a person, or
# the full-labels model's predicted articleType (accepted as it is).
ONLY_TYPE, GIVEN_TYPE, NAME_MATCH, REVIEWER, MODEL_TYPE = 'only_type', 'given_type', 'name_match', 'reviewer', 'model'


@dataclasses.dataclass(frozen=True)
class Decision:
    """One reviewer's decision on one item. The label columns are the item's labels after it (for keep: the
    given ones; for not_sure: empty)."""
    id: str
    decision: str
    masterCategory: str  # noqa: N815  (the catalog's column names)
    subCategory: str  # noqa: N815
    articleType: str  # noqa: N815
    given_class: str
    predicted_class: str
    flagged: bool
    decided_by: str
    decided_at: str
    model_version: str
    catalog_version: str
    fingerprint: str
    article_chosen_by: str = ''  # ONLY_TYPE, GIVEN_TYPE, NAME_MATCH, REVIEWER or MODEL_TYPE; empty for not_sure

    @property
    def settles(self):
        return self.decision in SETTLING

    @property
    def labels(self):
        return self.masterCategory, self.subCategory, self.articleType


def preselected_type(types, given_type, name_match):
    """(articleType, how) that "accept the prediction" may write without a person choosing it, from evidence
    only, or (None, None): the predicted class's only type; else the given type when it lies in the class;
    else the type the display name matches (`name_match`, or None). Never a default such as the first type."""
    if len(types) == 1:
        return types[0], ONLY_TYPE
    if given_type in types:
        return given_type, GIVEN_TYPE
    if name_match in types:
        return name_match, NAME_MATCH
    return None, None


def settles(decision, fingerprint):
    """Whether `decision` settles the item as it is now (its `fingerprint`): accepted, relabelled or kept, on the
    same fingerprint (a later change to the row or image reopens it)."""
    return decision is not None and decision.settles and decision.fingerprint == fingerprint


def reviewed(record, decision, taxonomy):
    """A scored record (a Prediction or a CatalogRecord) with what a reviewer settled for it, when the decision
    was made on the item as it is now (same fingerprint): the reviewed class beside the given and predicted ones,
    and neither a flag nor a needs_review mark. Otherwise the record is as scored. Either way every review column
    is cleared first (the attributes' too: rules/attribute_reviews.reviewed fills those in after)."""
    record = record._replace(**dict.fromkeys(predictions.REVIEW_COLUMNS))
    if not settles(decision, changes.fingerprint_of(record)):
        return record
    placement = taxonomy.class_of(decision.labels, record.productDisplayName)
    return record._replace(reviewed_class=placement.class_name, reviewed_decision=decision.decision,
                reviewed_by=decision.decided_by, reviewed_at=decision.decided_at, disagrees=False, needs_review=False)


def flag_precision(decisions):
    """What reviewers said about the flags, per (given, predicted) pair of the flagged items they settled:
    how many they accepted (the prediction was right), relabelled (the given label was wrong, the prediction
    too) and kept (a false flag). A flag was right when the given label was wrong: precision =
    (accepted + relabelled) / decided. Rows, most decided first."""
    return flag_precision_of_counts(collections.Counter(
        (d.given_class, d.predicted_class, d.decision) for d in decisions if d.flagged and d.settles).items())


def flag_precision_of_counts(counted):
    """flag_precision from ((given, predicted, settling decision), count) pairs, as Tally counts them."""
    pairs = {}
    for (given, predicted, decision), count in counted:
        pairs.setdefault((given, predicted), {ACCEPT: 0, RELABEL: 0, KEEP: 0})[decision] += count
    rows = [{'given': g, 'predicted': p, 'decided': sum(c.values()), 'accepted': c[ACCEPT], 'relabelled': c[RELABEL],
             'kept': c[KEEP], 'precision': (c[ACCEPT] + c[RELABEL]) / sum(c.values())} for (g, p), c in pairs.items()]
    return sorted(rows, key=lambda r: (-r['decided'], r['given'], r['predicted']))


def verdict(decision):
    """What a settling decision (its name) says of the given label: right (kept) or wrong (accepted or
    relabelled)."""
    return 'given right' if decision == KEEP else 'given wrong'


def agreement(decisions):
    """Where two or more reviewers settled the same item (each one's latest settling decision on it): how many
    such pairs, how often they agree on the verdict (decisions.verdict) and on the articleType, and Cohen's kappa
    of the verdicts (None until both verdicts occur). Summed over every pair of reviewers of an item."""
    tally = Tally()
    for d in decisions:  # oldest first: a later decision by the same reviewer replaces their earlier one
        tally.add(0, d)
    return tally.agreement()


class Latest(typing.NamedTuple):
    """What the queue needs of an item's latest decision (settles() reads it as it reads a Decision)."""
    decision: str
    fingerprint: str

    @property
    def settles(self):
        return self.decision in SETTLING


class Tally:
    """The figures the review page shows of all the decisions, kept up to date one decision at a time (decisions
    are only ever appended, so a page reads only those newer than `seq`): each item's latest decision (as Latest)
    and its sequence number, when each reviewer last decided and which items they decided, the flag outcomes of
    the items' latest decisions (flag_precision's counts), and each item's latest settling decision per reviewer
    (agreement)."""

    def __init__(self):
        self.seq = 0
        self.latest = {}  # id -> Latest
        self.last_decided_at = {}  # reviewer -> their latest decided_at
        self.decided = {}  # reviewer -> the ids they decided
        self.flag_counts = collections.Counter()  # (given, predicted, decision) -> items whose latest settles a flag
        self._flag_of = {}  # id -> its key in flag_counts
        self._settled = {}  # id -> {reviewer: (decision, articleType)}, for items with a settling decision
        self._shared = set()  # ids settled by two or more reviewers

    def add(self, seq, d):
        """Counts decision `d` (anything with Decision's fields), numbered `seq`, newer than all counted."""
        self.seq = max(self.seq, seq)
        self.latest[d.id] = Latest(d.decision, d.fingerprint)
        self.last_decided_at[d.decided_by] = max(self.last_decided_at.get(d.decided_by, ''), d.decided_at)
        self.decided.setdefault(d.decided_by, set()).add(d.id)
        before = self._flag_of.pop(d.id, None)
        if before is not None:
            self.flag_counts[before] -= 1
            if not self.flag_counts[before]:
                del self.flag_counts[before]
        if d.decision in SETTLING:
            if d.flagged:
                self._flag_of[d.id] = key = (d.given_class, d.predicted_class, d.decision)
                self.flag_counts[key] += 1
            by_reviewer = self._settled.setdefault(d.id, {})
            by_reviewer[d.decided_by] = (d.decision, d.articleType)
            if len(by_reviewer) > 1:
                self._shared.add(d.id)

    def team(self, since):
        """The reviewers who decided at `since` or later, by name."""
        return sorted(name for name, last in self.last_decided_at.items() if last >= since)

    def agreement(self):
        """agreement() of the decisions counted."""
        items = [self._settled[i] for i in sorted(self._shared, key=lambda i: (len(i), i))]
        pairs = [pair for item in items for pair in itertools.combinations(item.values(), 2)]
        if not pairs:
            return {'settled_items': 0, 'pairs': 0, 'verdict_agreement': None, 'type_agreement': None, 'kappa': None}
        first, second = [verdict(a) for (a, _), _ in pairs], [verdict(b) for _, (b, _) in pairs]
        kappa = None
        if len(set(first + second)) > 1:
            from sklearn.metrics import cohen_kappa_score  # pylint: disable=import-outside-toplevel  (heavy import)
            kappa = float(cohen_kappa_score(first, second))
        return {'settled_items': len(items), 'pairs': len(pairs),
                'verdict_agreement': sum(x == y for x, y in zip(first, second)) / len(pairs),
                'type_agreement': sum(a[1] == b[1] for a, b in pairs) / len(pairs), 'kappa': kappa}

"""Who reviews what first: each reviewer of a team gets their own slice of the queue, so that people working at
the same time do not meet on the same items, and about 5% of items are shared on purpose by two reviewers, so
that their agreement can be measured (decisions.agreement).

Rendezvous hashing: an item's reviewers are those whose hash with the item's id ranks highest. Adding or removing
a reviewer moves only that reviewer's share of the items, and everyone computes the same slices without storing
them.
"""
import functools
import hashlib

SHARED_FRACTION = 0.05


def _unit(*parts):
    """A number in [0, 1) from the parts, the same on every machine and run."""
    digest = hashlib.sha256('\0'.join(parts).encode('utf-8')).digest()
    return int.from_bytes(digest[:8], 'big') / 2 ** 64


def is_shared(item_id):
    """Whether the item is one of the ~5% that two reviewers see (the same items for every team)."""
    return _unit('shared', item_id) < SHARED_FRACTION


def owners(item_id, team):
    """The reviewers of `team` whose slice holds the item: its highest-ranked one, and the next for a shared item."""
    return _owners(item_id, tuple(team))


@functools.lru_cache(maxsize=1 << 17)  # a page asks for every queued item's owners: the same ones at each load
def _owners(item_id, team):
    ranked = sorted(team, key=lambda name: (-_unit(name, item_id), name))
    return ranked[:2] if is_shared(item_id) else ranked[:1]


def own_first(items, reviewer, team):
    """`items` (records in queue order) with those in `reviewer`'s slice first, each part in its order."""
    is_mine = [reviewer in owners(r['id'], team) for r in items]
    return [r for r, m in zip(items, is_mine) if m] + [r for r, m in zip(items, is_mine) if not m]


def second_look(item_id, reviewer, team, decided):
    """Whether `reviewer` should still see an item someone else has settled: it is shared, in their slice, and
    they have not decided it (`decided`: the ids they have)."""
    return reviewer is not None and is_shared(item_id) and reviewer in owners(item_id, team) and item_id not in decided

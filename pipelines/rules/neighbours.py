"""Declared neighbours: pairs of articleTypes that a catalog's own people use interchangeably (Tshirts and Tops,
Sandals and Flip Flops). Which of the two an item carries is a question for the taxonomy's owner, asked once per
pair, not a mistake: a declared pair never raises a nightly flag or an audit issue.

The catalog team keeps them in a committed CSV beside the taxonomy (schemas/neighbours.csv, or the jobs'
`--neighbours FILE`), one pair a line with its relation, who declared it, when and why. The relation is
`neighbours`, or `distinct`: the team's answer that a pair the audit's overlap report would learn as neighbours
(rules/overlap.py) is not one, so that its disagreements stay mistakes (Heels and Flats: the catalog files many
flats as heels, both ways, yet each is plainly the other kind of shoe). A set of pairs is versioned by its
content, whatever the order of lines or of the two types in a line.
"""
import csv
import hashlib
import importlib.resources
import io
import typing

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import files

COLUMNS = ('type_a', 'type_b', 'relation', 'declared_by', 'declared_on', 'why')
NEIGHBOURS, DISTINCT = 'neighbours', 'distinct'
RELATIONS = (NEIGHBOURS, DISTINCT)
SHIPPED_PATH = str(importlib.resources.files('schemas') / artifacts.NEIGHBOURS)


class Neighbours(typing.NamedTuple):
    pairs: frozenset = frozenset()  # frozensets of two articleTypes declared neighbours
    version: str = 'neighbours-none'
    distinct: frozenset = frozenset()  # pairs declared not neighbours

    def declared(self, type_a, type_b):
        """Whether two articleTypes are declared neighbours (either order)."""
        return frozenset((type_a, type_b)) in self.pairs

    def declared_distinct(self, type_a, type_b):
        """Whether two articleTypes are declared not neighbours (either order)."""
        return frozenset((type_a, type_b)) in self.distinct

    def summary(self):
        """What a job's summary.json says of them: the version and the pairs, each sorted."""
        return {'version': self.version, 'declared': sorted(sorted(pair) for pair in self.pairs),
                'distinct': sorted(sorted(pair) for pair in self.distinct)}


def summary_line(summary, what):
    """A summary.txt line naming the declared pairs (from Neighbours.summary()), or None without any."""
    if not summary.get('declared'):
        return None
    return f'declared neighbours ({summary["version"]}), {what}: ' + ', '.join(
        ' / '.join(pair) for pair in summary['declared'])


NONE = Neighbours()


def parse(text, source):
    """The pairs of a neighbours CSV; a malformed file ends in a one-line UserError naming `source`."""
    rows = csv.reader(io.StringIO(text))
    header = tuple(next(rows, ()))
    if header != COLUMNS:
        raise UserError(f'{source}: the header must be {",".join(COLUMNS)} (got {",".join(header) or "nothing"})')
    relations = {}
    for line, row in enumerate(rows, start=2):
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(COLUMNS):
            raise UserError(f'{source}:{line}: {len(COLUMNS)} fields expected, got {len(row)}')
        pair = frozenset(field.strip() for field in row[:2])
        if len(pair) != 2 or '' in pair:
            raise UserError(f'{source}:{line}: a pair needs two different articleTypes')
        if pair in relations:
            raise UserError(f'{source}:{line}: {" and ".join(sorted(pair))} are declared twice')
        if row[2].strip() not in RELATIONS:
            raise UserError(f'{source}:{line}: the relation must be {" or ".join(RELATIONS)} (got {row[2]!r})')
        relations[pair] = row[2].strip()
    canonical = '\n'.join(sorted('\t'.join([*sorted(pair), relation]) for pair, relation in relations.items()))
    return Neighbours(frozenset(p for p, r in relations.items() if r == NEIGHBOURS),
                      'neighbours-' + hashlib.sha256(canonical.encode()).hexdigest()[:12],
                      frozenset(p for p, r in relations.items() if r == DISTINCT))


def load(path=SHIPPED_PATH):
    """The declared neighbours of a CSV (the shipped one by default)."""
    try:
        text = files.read_text(path)
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f'cannot read the neighbours file {path}: {error}') from error
    return parse(text, path)

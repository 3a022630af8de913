"""Typed rows for tests: a CatalogRow from only the fields a test cares about."""
from pipelines.rules import catalog


def catalog_row(**fields):
    """A CatalogRow with `fields`; the other styles.csv columns are empty and `line` is the columns joined."""
    columns = {name: '' for name in catalog.COLUMNS}
    columns.update({name: value for name, value in fields.items() if name in catalog.COLUMNS})
    rest = {name: value for name, value in fields.items() if name not in catalog.COLUMNS}
    rest.setdefault('line', ','.join(columns[name] for name in catalog.COLUMNS))
    return catalog.CatalogRow(**columns, **rest)

"""Reading a catalog folder back, to derive test catalogs from it, and a job's CSV output."""
import csv
import glob
import os

from pipelines.rules import catalog


def read_catalog(path):
    """(styles rows, {id: JPEG bytes}) of a catalog folder."""
    with open(catalog.styles_path(path), encoding='utf-8', newline='') as f:
        styles = list(csv.DictReader(f))
    jpegs = {}
    for row in styles:
        image = catalog.image_path(path, row['id'])
        if os.path.exists(image):
            with open(image, 'rb') as f:
                jpegs[row['id']] = f.read()
    return styles, jpegs


def read_csv_rows(output, prefix='predictions'):
    rows = []
    for path in sorted(glob.glob(os.path.join(output, f'{prefix}-*.csv'))):
        with open(path, encoding='utf-8', newline='') as f:
            rows += list(csv.DictReader(f))
    return rows

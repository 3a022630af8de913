"""A catalog of N items built from a real one, for the nightly at scale (44k, 222k, 1M items).

    .venv/bin/python benchmarks/scale.py --catalog ../shared/data/fashion-product-images-small --items 222230 \
        --output /work/scale/222k [--seed 20261207] [--workers 2]

Item i (ids 1..N) copies the styles.csv row of source item perm[i mod S] (perm: a seeded permutation of the S
source rows), so every quirk of the source comes through at its rate: empty fields, quoted names, a Kaggle line
whose display name holds unquoted commas (its extra fields are kept as they were), a row whose image is missing.
What changes:
- the id;
- the display name, from the second copy of a row on: two of its words after the first (the brand) change
  places, so names vary within their own words;
- the image: decoded and written again as a JPEG with one pixel nudged (which pixel and by how much follow from
  the new id) and the new id as its comment (on a flat patch, the quantization can undo the nudge), so every
  content hash, and with it the split, is new.
Deterministic for a seed and N. Disk: about 4.2 KiB an item (the real catalog's 44,446 items take 187 MiB).
"""
import argparse
import csv
import hashlib
import io
import multiprocessing
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from pipelines.rules import catalog  # noqa: E402  pylint: disable=wrong-import-position

SEED = 20261207
NAME = catalog.COLUMNS.index('productDisplayName')
JPEG_QUALITY = 95
PROGRESS_EVERY = 50_000


def source_rows(catalog_dir):
    """The source's styles.csv as (header, [fields]), each row as the csv module splits it (a Kaggle comma line
    has more fields than the header)."""
    with open(catalog.styles_path(catalog_dir), encoding='utf-8-sig', newline='') as f:
        rows = [row for row in csv.reader(f) if row]
    return rows[0], rows[1:]


def varied_name(name, copy):
    """The display name of a row's `copy`-th copy: the first as it is; later ones with two words after the first
    swapped, which two following from `copy`."""
    words = name.split(' ')
    if copy == 0 or len(words) < 3:
        return name
    a = 1 + copy % (len(words) - 1)
    b = 1 + (copy // (len(words) - 1) + a) % (len(words) - 1)
    if a == b:
        b = 1 + a % (len(words) - 1)
    words[a], words[b] = words[b], words[a]
    return ' '.join(words)


def nudged_jpeg(data, item_id):
    """The image re-encoded with one pixel changed and the id as its comment: a new content hash for the same
    picture."""
    image = Image.open(io.BytesIO(data)).convert('RGB')
    pixels = np.asarray(image).copy()
    digest = int(hashlib.sha256(str(item_id).encode()).hexdigest()[:12], 16)
    y, x = digest % pixels.shape[0], (digest >> 12) % pixels.shape[1]
    pixels[y, x] = (pixels[y, x].astype(int) + 1 + digest % 7) % 256
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format='JPEG', quality=JPEG_QUALITY, comment=f'scale {item_id}')
    return out.getvalue()


def plan(rows, items, seed=SEED):
    """[(new id, source row index, copy number)] for `items` items."""
    order = np.random.default_rng(seed).permutation(len(rows))
    return [(i + 1, int(order[i % len(rows)]), i // len(rows)) for i in range(items)]


def _write_image(task):
    source, target, item_id = task
    with open(source, 'rb') as f:
        data = f.read()
    with open(target, 'wb') as f:
        f.write(nudged_jpeg(data, item_id))


def build(catalog_dir, output, items, seed=SEED, workers=2, progress=None):
    """Writes OUTPUT/styles.csv and OUTPUT/images/; returns {'items', 'images', 'missing_images', 'disk_bytes'}."""
    header, rows = source_rows(catalog_dir)
    os.makedirs(os.path.join(output, 'images'), exist_ok=True)
    tasks = []
    with open(catalog.styles_path(output), 'w', encoding='utf-8', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(header)
        for item_id, index, copy in plan(rows, items, seed):
            fields = list(rows[index])
            source_id = fields[0]
            fields[0] = str(item_id)
            fields[-1] = varied_name(fields[-1], copy) if len(fields) > NAME else fields[-1]
            writer.writerow(fields)
            source = catalog.image_path(catalog_dir, source_id)
            if os.path.exists(source):
                tasks.append((source, catalog.image_path(output, str(item_id)), item_id))
    with multiprocessing.Pool(workers) as pool:
        for done, _ in enumerate(pool.imap_unordered(_write_image, tasks, chunksize=256), start=1):
            if progress and done % PROGRESS_EVERY == 0:
                progress(f'{done:,} of {len(tasks):,} images')
    paths = [os.path.join(output, 'images', name) for name in os.listdir(os.path.join(output, 'images'))]
    disk = sum(os.stat(path).st_blocks * 512 for path in [*paths, catalog.styles_path(output)])
    return {'items': items, 'images': len(tasks), 'missing_images': items - len(tasks), 'disk_bytes': disk}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True, help='the source catalog (styles.csv and images/)')
    parser.add_argument('--output', required=True)
    parser.add_argument('--items', type=int, required=True)
    parser.add_argument('--seed', type=int, default=SEED)
    parser.add_argument('--workers', type=int, default=2)
    args = parser.parse_args(argv)
    result = build(args.catalog, args.output, args.items, args.seed, args.workers,
                   progress=lambda line: print(line, flush=True))
    print(f'{args.output}: {result["items"]:,} items, {result["images"]:,} images '
          f'({result["missing_images"]:,} missing, as in the source), {result["disk_bytes"] / 2**30:.2f} GiB on disk')
    return result


if __name__ == '__main__':
    main()

"""A catalog holding every reader case, each bad row with the reason it must be quarantined for."""
import io
import os

from PIL import Image

from pipelines.jobs import synth
from pipelines.rules import catalog

GOOD_ROWS = 110
REPAIRED = '900010'  # a display name with unquoted commas: kept, and counted as repaired


def _jpeg(image):
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG')
    return buffer.getvalue()


def write(path):
    """Writes the catalog; returns (ids of the good rows, {raw id or line tag: expected reason})."""
    styles, jpegs = synth.generate(synth.MIN_ROWS + 20, seed=11)
    styles = [r for r in styles if r['id'] in jpegs][:GOOD_ROWS]
    good = {r['id'] for r in styles}

    def line(row_id, display='Test Item', **override):
        values = dict(zip(catalog.COLUMNS, [row_id, 'Men', 'Apparel', 'Topwear', 'Tshirts', 'Blue', 'Fall',
                                            '2012', 'Casual', display]))
        values.update(override)
        return ','.join(values[c] for c in catalog.COLUMNS)

    image = _jpeg(Image.new('RGB', (60, 80), 'green'))
    lines = [','.join(catalog.COLUMNS)]
    lines += [','.join(r[c] if ',' not in r[c] else f'"{r[c]}"' for c in catalog.COLUMNS) for r in styles]
    extra_good = {'900001': line('900001', display='"Puma, Men\'s ""Classic"" Tee"'),
                  '900002': line('900002', display='Café Femme Écharpe Ünïcødé'),
                  REPAIRED: line(REPAIRED, display='Puma Men, Black Tee')}  # as in Kaggle's file: repaired
    bad = {
        '900011': ('900011,Men,Apparel', catalog.WRONG_FIELD_COUNT),
        '12a': (line('12a'), catalog.INVALID_ID),
        '../../etc/passwd': (line('../../etc/passwd'), catalog.INVALID_ID),
        '900012': (line('900012', articleType=''), catalog.EMPTY_LABEL),
        '900013': (line('900013'), catalog.MISSING_IMAGE),
        '900014': (line('900014'), catalog.UNDECODABLE_IMAGE),
        '900015': (line('900015'), catalog.UNDECODABLE_IMAGE),
        '900016': (line('900016'), catalog.UNDECODABLE_IMAGE),
        '900017': (line('900017'), catalog.UNDECODABLE_IMAGE),
        '900018': (line('900018', masterCategory='Toys', subCategory='Games', articleType='Puzzles'),
                   catalog.LABEL_OUTSIDE_TAXONOMY),
    }
    duplicate = line('900020')
    os.makedirs(catalog.images_dir(path))
    for row_id, data in jpegs.items():
        if row_id in good:
            with open(catalog.image_path(path, row_id), 'wb') as f:
                f.write(data)
    files = {'900001': image, '900002': image, REPAIRED: image, '900012': image, '900018': image,
             '900020': image, '900014': b'', '900015': image[:len(image) // 2], '900016': b'no image here',
             '900017': _png()}
    for row_id, data in files.items():
        with open(catalog.image_path(path, row_id), 'wb') as f:
            f.write(data)
    body = lines[:40] + [''] + list(extra_good.values()) + [l for l, _ in bad.values()] + [duplicate, duplicate]
    body += lines[40:] + ['   ']
    data = b'\xef\xbb\xbf' + '\r\n'.join(body).encode('utf-8') + b'\r\n'
    data += line('900030').encode('utf-8')[:-4] + b'\xff\xfe\r\n'
    with open(catalog.styles_path(path), 'wb') as f:
        f.write(data)
    expected = {row_id: reason for row_id, (_, reason) in bad.items()}
    expected['900020'] = catalog.DUPLICATE_ID
    expected[None] = catalog.INVALID_ENCODING
    return good | set(extra_good), expected


def _png():
    buffer = io.BytesIO()
    Image.new('RGB', (60, 80), 'red').save(buffer, format='PNG')
    return buffer.getvalue()

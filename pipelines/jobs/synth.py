"""A synthetic catalog in the Kaggle layout, for the demo and the tests.

Its (masterCategory, subCategory, articleType) combinations come from the shipped taxonomy's counts, so
applying that taxonomy yields the real classes even at a few hundred rows. Each class draws its own shape and
colour, and each of a class's most common articleTypes (one per ROWS_PER_TYPE of its rows, up to four) its own
background pattern, so a short training run can learn both. Neither the image nor the name alone always tells the articleType: a share of the images hide
it (a plain background, as rarer types have), and a share of the names leave the type word out
(TYPE_HIDDEN_SHARE each, never both for one item). Like the real catalog it holds Free Items named after what
they are, rows without an image, grayscale JPEGs and odd-sized JPEGs.

    fashion-pipeline synth --output DIR [--rows N] [--seed S]
"""
import argparse
import collections
import colorsys
import csv
import io
import math
import random
import sys

from apache_beam.io.filesystems import FileSystems
from PIL import Image, ImageDraw

from pipelines.errors import UserError
from pipelines.rules import catalog, taxonomy as taxonomy_lib
from pipelines.storage import files

WIDTH, HEIGHT = 60, 80
MIN_ROWS = 100
GENDERS = ('Men', 'Women', 'Boys', 'Girls', 'Unisex')
COLOURS = ('Black', 'White', 'Blue', 'Navy Blue', 'Red', 'Green', 'Grey', 'Brown', 'Pink', 'Yellow')
COLOUR_RGB = ((20, 20, 20), (250, 250, 250), (30, 144, 255), (0, 0, 110), (220, 20, 30), (30, 160, 50),
              (128, 128, 128), (120, 70, 20), (255, 150, 190), (250, 220, 0))  # the band that shows the colour
SEASONS = ('Summer', 'Fall', 'Winter', 'Spring')
USAGES = ('Casual', 'Formal', 'Sports', 'Ethnic', 'Party')
BRANDS = ('Puma', 'Nike', 'Titan', 'Park Avenue', 'Satya Paul', 'Q&Q', 'Murcia', 'Lino Perros', 'Fabindia')
FREE_ITEM_NAMES = ('{brand} Men Black Digital Watch', '{brand} Blue Patterned Tie', '{brand} Green Saree',
                   '{brand} Women Black Sunglasses', '{brand} Men Leather Wallet', '{brand} Men Skill Power Deo')
SHAPES = ('ellipse', 'rectangle', 'triangle', 'cross', 'ring', 'diamond')
PATTERNS = ('plain', 'vertical', 'horizontal', 'checker', 'dots')  # plain: the image does not show the type
TYPE_HIDDEN_SHARE = 0.3
ROWS_PER_TYPE = 25  # a class draws one articleType per this many of its rows (up to four): each has items to learn
NAME_WORDS = ('Classic', 'Essential', 'Signature', 'Everyday', 'Premium', 'Studio')  # a name without its type
FREE_ITEM_SHAPE_CLASS = {'Watch': 'Watches', 'Tie': 'Ties', 'Saree': 'Saree', 'Sunglasses': 'Eyewear',
                         'Wallet': 'Wallets'}


def _allocate(rows, weights):
    """Splits `rows` over the weighted keys: at least 2 each, the rest in proportion (imbalanced)."""
    keys = sorted(weights)
    counts = {k: 2 for k in keys}
    spare = rows - 2 * len(keys)
    total = sum(weights.values())
    for k in keys:
        counts[k] += int(spare * weights[k] / total)
    for k in sorted(keys, key=lambda k: -weights[k])[:rows - sum(counts.values())]:
        counts[k] += 1
    return counts


def _class_colour(class_index):
    """A colour of its own for each class, spread around the hue circle."""
    hue = (class_index * 7 % 30) / 30
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, 0.55 + 0.4 * (class_index % 2)))


def draw_image(class_index, pattern_index, rng, colour_index=None):
    """A 60x80 RGB picture whose shape and colour say the class, whose background pattern says the
    articleType (PATTERNS[0], plain, says nothing) and whose bottom band shows the item's baseColour
    (COLOUR_RGB[colour_index]); each item jitters."""
    image = Image.new('RGB', (WIDTH, HEIGHT), tuple(rng.randint(225, 255) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    pattern = PATTERNS[pattern_index]
    ink = (150, 150, 150)
    if pattern == 'vertical':
        for x in range(0, WIDTH, 8):
            draw.line([(x, 0), (x, HEIGHT)], fill=ink, width=2)
    elif pattern == 'horizontal':
        for y in range(0, HEIGHT, 8):
            draw.line([(0, y), (WIDTH, y)], fill=ink, width=2)
    elif pattern == 'checker':
        for x in range(0, WIDTH, 10):
            for y in range((x // 10 % 2) * 10, HEIGHT, 20):
                draw.rectangle([x, y, x + 9, y + 9], fill=ink)
    elif pattern == 'dots':
        for x in range(4, WIDTH, 10):
            for y in range(4, HEIGHT, 10):
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=ink)
    colour = tuple(min(255, max(0, c + rng.randint(-20, 20))) for c in _class_colour(class_index))
    x0, y0 = 10 + rng.randint(-4, 4), 20 + rng.randint(-4, 4)
    x1, y1 = x0 + 40 + rng.randint(-3, 3), y0 + 40 + rng.randint(-3, 3)
    shape = SHAPES[class_index % len(SHAPES)]
    if colour_index is not None:
        draw.rectangle([0, HEIGHT - 10, WIDTH, HEIGHT], fill=COLOUR_RGB[colour_index])
    if shape == 'ellipse':
        draw.ellipse([x0, y0, x1, y1], fill=colour)
    elif shape == 'rectangle':
        draw.rectangle([x0, y0, x1, y1], fill=colour)
    elif shape == 'triangle':
        draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=colour)
    elif shape == 'cross':
        draw.rectangle([(x0 + x1) // 2 - 6, y0, (x0 + x1) // 2 + 6, y1], fill=colour)
        draw.rectangle([x0, (y0 + y1) // 2 - 6, x1, (y0 + y1) // 2 + 6], fill=colour)
    elif shape == 'ring':
        draw.ellipse([x0, y0, x1, y1], outline=colour, width=7)
    else:
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=colour)
    return image


def _type_patterns(combos):
    """Each articleType of a class's combinations -> its background pattern: the four most common types get
    one each, rarer ones a plain background."""
    totals = collections.Counter()
    for (_, _, article), count in combos:
        totals[article] += count
    ranked = sorted(totals, key=lambda article: (-totals[article], article))
    return {article: 1 + rank if rank < len(PATTERNS) - 1 else 0 for rank, article in enumerate(ranked)}


def _jpeg(image):
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=90)
    return buffer.getvalue()


def generate(rows=300, seed=0, taxonomy=None, show_attributes=False):
    """Returns (styles rows as dicts, {id: JPEG bytes}); deterministic for a seed. With `show_attributes` each
    name carries the item's gender and each image shows its colour (a band at its foot), for the model's attribute
    heads to learn."""
    if rows < MIN_ROWS:
        raise UserError(f'--rows must be at least {MIN_ROWS} so that every class is present (got {rows})')
    taxonomy = taxonomy or taxonomy_lib.load()
    rng = random.Random(seed)
    classes = list(taxonomy.classes)
    combos_by_label = collections.defaultdict(list)
    for master, sub, article, count in taxonomy.combo_counts:
        label = taxonomy.raw_label(master, sub, article)
        if label in taxonomy.labels and label != taxonomy.relabel_source:
            combos_by_label[label].append(((master, sub, article), count))
    weights = {label: math.sqrt(sum(n for _, n in combos)) for label, combos in combos_by_label.items()}
    free_items = max(len(FREE_ITEM_NAMES), rows // 50)
    missing = max(2, rows // 150)
    grayscale, odd_sized = max(2, rows // 100), max(2, rows // 100)
    counts = _allocate(rows - free_items, weights)
    ids = rng.sample(range(10000, 10000 + 20 * rows), rows)
    styles, jpegs = [], {}

    def add_row(master, sub, article, name, class_name, pattern_index):
        row_id = str(ids[len(styles)])
        colour_index, gender = rng.randrange(len(COLOURS)), rng.choice(GENDERS)
        season, year, usage = rng.choice(SEASONS), str(rng.randint(2008, 2018)), rng.choice(USAGES)
        if not show_attributes:
            # Season follows the colour and usage the Class, so that the heads of a default model learn them
            # rather than add noise to a short run (the tests of the attribute heads show the gender and colour,
            # and keep these two drawn). The draws stay, so that every later draw is what it was.
            season, usage = SEASONS[colour_index % len(SEASONS)], USAGES[classes.index(class_name) % len(USAGES)]
        styles.append({
            'id': row_id, 'gender': gender, 'masterCategory': master, 'subCategory': sub,
            'articleType': article, 'baseColour': COLOURS[colour_index],
            'season': season, 'year': year, 'usage': usage,
            'productDisplayName': name.format(brand=rng.choice(BRANDS), colour=COLOURS[colour_index],
                                              gender=f'{gender} ' if show_attributes else '')})
        jpegs[row_id] = draw_image(classes.index(class_name), pattern_index, rng,
                                   colour_index if show_attributes else None)

    for label in sorted(counts):
        pattern_of = _type_patterns(combos_by_label[label])
        kept = sorted(pattern_of, key=pattern_of.get)[:max(1, min(len(PATTERNS) - 1, counts[label] // ROWS_PER_TYPE))]
        combos = [combo for combo in combos_by_label[label] if combo[0][2] in kept]
        for _ in range(counts[label]):
            (master, sub, article), _count = rng.choices(combos, weights=[n for _, n in combos])[0]
            hide = rng.random()
            name = '{brand} {gender}{colour} ' + (rng.choice(NAME_WORDS) if hide < TYPE_HIDDEN_SHARE else article)
            pattern = 0 if TYPE_HIDDEN_SHARE <= hide < 2 * TYPE_HIDDEN_SHARE else pattern_of[article]
            add_row(master, sub, article, name, label, pattern)
    for i in range(free_items):
        name = FREE_ITEM_NAMES[i % len(FREE_ITEM_NAMES)]
        shape_class = next((c for word, c in FREE_ITEM_SHAPE_CLASS.items() if word in name), classes[0])
        add_row('Free Items', 'Free Gifts', 'Free Gifts', name, shape_class, 0)
    order = list(range(len(styles)))
    rng.shuffle(order)
    styles = [styles[i] for i in order]
    for row in styles[:missing]:
        del jpegs[row['id']]
    for row in styles[missing:missing + grayscale]:
        jpegs[row['id']] = jpegs[row['id']].convert('L')
    sizes = ((53, 80), (60, 60), (54, 80), (60, 75))
    for i, row in enumerate(styles[missing + grayscale:missing + grayscale + odd_sized]):
        jpegs[row['id']] = jpegs[row['id']].resize(sizes[i % len(sizes)])
    styles[-1]['season'] = ''
    return styles, {row_id: _jpeg(image) for row_id, image in jpegs.items()}


def write_catalog(output, styles, jpegs):
    """Writes styles.csv and images/<id>.jpg under `output` (any Beam filesystem)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=catalog.COLUMNS, lineterminator='\n')
    writer.writeheader()
    writer.writerows(styles)
    with FileSystems.create(catalog.styles_path(output)) as f:
        f.write(buffer.getvalue().encode('utf-8'))
    for row_id, data in jpegs.items():
        with FileSystems.create(catalog.image_path(output, row_id)) as f:
            f.write(data)


def run(argv=None):
    parser = argparse.ArgumentParser(prog='fashion-pipeline synth',
                                     description=' '.join(__doc__.split('\n\n')[0].split()))
    parser.add_argument('--output', required=True, help='folder to write styles.csv and images/ into')
    parser.add_argument('--rows', type=int, default=300, help=f'number of rows (at least {MIN_ROWS})')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--show-attributes', action='store_true',
                        help='write each item\'s gender into its name and paint its colour into its image')
    args = parser.parse_args(argv)
    files.check_paths(args, folders=['output'])
    if FileSystems.exists(catalog.styles_path(args.output)):
        raise UserError(f'{catalog.styles_path(args.output)} already exists: choose a new folder')
    styles, jpegs = generate(args.rows, args.seed, show_attributes=args.show_attributes)
    write_catalog(args.output, styles, jpegs)
    print(f'synthetic catalog: {len(styles)} rows, {len(jpegs)} images in {args.output}')


if __name__ == '__main__':
    from pipelines import cli  # the CLI turns bad input into one line on stderr
    sys.exit(cli.main(['synth', *sys.argv[1:]]))

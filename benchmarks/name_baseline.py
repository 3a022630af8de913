"""How much the display name alone tells: a TF-IDF + logistic regression classifier of productDisplayName, per
label level, on the project's content-hash split of the real catalog, no image.

    .venv/bin/python benchmarks/name_baseline.py --catalog ../shared/data/fashion-product-images-small \
        [--output name_baseline.json]

Rows are read with the catalog's own parser (a display name with unquoted commas is repaired as prepare does);
a row whose image is missing is left out, as prepare quarantines it; each item's split is the one prepare gives
it (rules/split.assign_split of its image's SHA-256). Features: word 1-2 grams and character 2-5 grams (within
word boundaries) of the lower-cased name, TF-IDF fitted on the train split; one multinomial logistic regression
per level (masterCategory, subCategory, articleType), trained on train, measured on test: accuracy, and macro F1
over the labels that occur in test. The figure a fused image + name model is measured against (BENCHMARKS.md).
"""
import argparse
import json
import os
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline, make_union

from pipelines.rules import catalog, images, split

LEVELS = ('masterCategory', 'subCategory', 'articleType')
SEED = 0


def catalog_rows(catalog_dir):
    """The rows of styles.csv that parse, as the jobs parse them (rules/catalog.py); quarantined lines left out."""
    header = catalog.read_header(catalog_dir)
    with open(catalog.styles_path(catalog_dir), 'rb') as f:
        next(f)
        for number, raw in enumerate(f, start=2):
            parsed = catalog.parse_line(raw.rstrip(b'\n'), header, number)
            if parsed is not None and parsed[0] == 'row':
                yield parsed[1]


def read_items(catalog_dir):
    """[(display name, {level: label}, split)] of every labelled row whose image exists."""
    items = []
    for row in catalog_rows(catalog_dir):
        if not all(row.labels):
            continue
        path = catalog.image_path(catalog_dir, row.id)
        if not os.path.exists(path):
            continue
        with open(path, 'rb') as image:
            part = split.assign_split(images.content_hash(image.read()))
        items.append((row.productDisplayName, dict(zip(LEVELS, row.labels, strict=True)), part))
    return items


def classifier():
    features = make_union(
        TfidfVectorizer(lowercase=True, analyzer='word', ngram_range=(1, 2), sublinear_tf=True, min_df=1),
        TfidfVectorizer(lowercase=True, analyzer='char_wb', ngram_range=(2, 5), sublinear_tf=True, min_df=2))
    return make_pipeline(features, LogisticRegression(C=20.0, max_iter=2000, random_state=SEED))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--catalog', required=True)
    parser.add_argument('--output', help='write the figures as JSON here too')
    args = parser.parse_args()
    start = time.monotonic()
    items = read_items(args.catalog)
    train = [item for item in items if item[2] == 'train']
    test = [item for item in items if item[2] == 'test']
    print(f'{len(items)} labelled items with images: train {len(train)}, test {len(test)}')
    results = {'items': len(items), 'train': len(train), 'test': len(test), 'levels': {}}
    print('| level | labels in test | test accuracy | macro F1 |\n| --- | --- | --- | --- |')
    for level in LEVELS:
        model = classifier().fit([name for name, _, _ in train], [labels[level] for _, labels, _ in train])
        truth = [labels[level] for _, labels, _ in test]
        predicted = model.predict([name for name, _, _ in test])
        present = sorted(set(truth))
        figures = {'labels_in_test': len(present), 'accuracy': round(accuracy_score(truth, predicted), 4),
                   'macro_f1': round(f1_score(truth, predicted, labels=present, average='macro', zero_division=0), 4)}
        results['levels'][level] = figures
        print(f'| {level} | {figures["labels_in_test"]} | {figures["accuracy"]:.3f} | {figures["macro_f1"]:.3f} |',
              flush=True)
    results['wall_seconds'] = round(time.monotonic() - start, 1)
    print(f'{results["wall_seconds"]:.0f} s')
    if args.output:
        with open(args.output, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()

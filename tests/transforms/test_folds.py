"""WriteFolds: each prepared example in its fold (items sharing an image or a name together), and one prepared-like
folder per audit model."""
import collections

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from pipelines.rules import folds
from pipelines.transforms.folds import WriteFolds, model_dir
from tests.conftest import read_examples


def _check_listing(expected_ids):
    def check(items):
        assert sorted(item['id'] for item in items) == sorted(expected_ids)
        by_key = collections.defaultdict(set)
        for item in items:
            by_key[item['content_hash']].add(item['fold'])
            by_key[folds.variant_name(item['productDisplayName']) or item['id']].add(item['fold'])
            assert item['fold'] == folds.assign_fold(item['group'], 3)
        assert all(len(assigned) == 1 for assigned in by_key.values())  # one image, one product line: one fold
        assert len({item['group'] for item in items}) < len(items)  # the synthetic catalog repeats names
    return check


def test_every_example_goes_to_each_model_in_the_role_of_its_fold(prepared_synthetic, tmp_path):
    prepared, _ = prepared_synthetic
    examples = read_examples(prepared)
    output = str(tmp_path / 'folds')
    with TestPipeline() as p:
        listing = p | WriteFolds(prepared, output, 3)
        assert_that(listing | beam.combiners.ToList(), lambda lists: _check_listing(examples)(lists[0]))
    fold_of = {}
    for model_fold in range(3):
        roles = read_examples(model_dir(output, model_fold))  # the trainer's splits are the model's roles
        seen = {role: {i for i, (_, _, found) in roles.items() if found == role} for role in folds.ROLES}
        assert set().union(*seen.values()) == set(examples)
        assert not (seen['train'] & seen['val']) and not (seen['test'] & (seen['train'] | seen['val']))
        fold_of.update({item_id: model_fold for item_id in seen['test']})
    assert len(fold_of) == len(examples) and len(set(fold_of.values())) == 3

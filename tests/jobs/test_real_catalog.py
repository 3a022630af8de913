"""The real catalog's reference figures (benchmarks/history/2026-11-29-measured-by-hand-on-the-real-catalog.md,
"Prepare on the real catalog"), reproduced by the prepare job (skipped where it is absent)."""
import pytest

from pipelines.jobs import prepare
from pipelines.rules import taxonomy
from tests.conftest import real_catalog_or_skip

pytestmark = pytest.mark.slow  # the real catalog

MULTI = ['--direct_running_mode=multi_processing', '--direct_num_workers=2']


@pytest.fixture(scope='module')
def derived_run(tmp_path_factory):
    catalog = real_catalog_or_skip()
    output = str(tmp_path_factory.mktemp('real') / 'derived')
    return output, prepare.run(['--catalog', catalog, '--output', output, '--derive-taxonomy'] + MULTI)


def _check_reference_figures(manifest):
    assert manifest['rows_read'] == 44446
    assert manifest['quarantined_by_reason'] == {'missing_image': 5, 'label_below_min_count': 1}
    assert manifest['missing_image_ids'] == ['12347', '39401', '39403', '39410', '39425']
    assert manifest['rows_kept'] == 44440
    labels = manifest['labels_before_relabel']
    assert len(labels) == 31 and labels['Free Items'] == 105 and labels['Shoes'] == 7344
    assert labels['Sporting Goods'] == 25 and 'Home' not in labels
    balance = manifest['balance']
    assert (round(balance['masterCategory'], 3), round(balance['subCategory'], 3),
            round(balance['articleType'], 3)) == (0.671, 0.644, 0.731)
    assert round(balance['Class'], 3) == 0.815
    assert len({name for split in manifest['class_counts'].values() for name in split}) == 30
    duplicates = manifest['duplicate_images']
    assert (duplicates['groups'], duplicates['ids'], duplicates['conflicting_groups']) == (653, 1433, 7)


def test_derived_taxonomy_reproduces_the_readme(derived_run):
    _check_reference_figures(derived_run[1])


def test_derived_taxonomy_equals_the_shipped_one(derived_run):
    """So a run with the shipped taxonomy places every row as this one does: one run on the real catalog covers both
    (a second whole run cost 37 s of CI for the same figures)."""
    output, manifest = derived_run
    derived = taxonomy.load(f'{output}/taxonomy.json')
    assert derived == taxonomy.load()
    assert manifest['taxonomy_version'] == taxonomy.load().rules_hash


def test_seed_relabel_examples_on_the_real_rows(derived_run):
    manifest = derived_run[1]
    assert manifest['relabel']['matched'] + manifest['relabel']['unknown'] == 105
    assert manifest['relabel']['by_class']['Watches'] >= 40

import collections
import glob
import json
import os

import pytest

from pipelines.errors import UserError
from pipelines.jobs import prepare
from pipelines.rules import examples as example_rules, taxonomy
from tests import bad_catalog
from tests.conftest import read_examples
from tests.rows import catalog_row
from tests.sockets import beam_job_on_loopback


def _quarantine(output):
    records = []
    for path in glob.glob(os.path.join(output, 'quarantine', '*.jsonl')):
        with open(path, encoding='utf-8') as f:
            records += [json.loads(line) for line in f if line.strip()]
    return records


def test_synthetic_catalog_end_to_end(prepared_synthetic, synthetic_catalog):
    output, manifest = prepared_synthetic
    assert manifest['rows_read'] == 300
    assert manifest['rows_read'] == manifest['rows_kept'] + manifest['rows_quarantined']
    assert set(manifest['quarantined_by_reason']) == {'missing_image'}
    assert len(manifest['missing_image_ids']) == manifest['rows_quarantined']
    examples = read_examples(output)
    shipped = taxonomy.load()
    assert len(examples) == manifest['rows_kept'] - manifest['relabel']['unknown']
    assert {name for name, _, _ in examples.values()} == set(shipped.classes)
    assert all(shipped.classes[index] == name for name, index, _ in examples.values())
    split_counts = collections.Counter(split for _, _, split in examples.values())
    assert split_counts == {split: sum(c.values()) for split, c in manifest['class_counts'].items()}
    with open(os.path.join(output, 'labels.txt'), encoding='utf-8') as f:
        assert tuple(f.read().split('\n')[:-1]) == shipped.classes
    assert manifest['taxonomy_version'] == shipped.rules_hash
    assert not glob.glob(output + '.staging-*'), 'staging folder left behind'


def test_free_items_are_relabelled_or_listed_as_unknown(prepared_synthetic):
    output, manifest = prepared_synthetic
    relabel = manifest['relabel']
    assert relabel['matched'] >= 5 and relabel['unknown'] >= 1
    assert {'Watches', 'Ties', 'Saree'} <= set(relabel['by_class'])
    with open(os.path.join(output, 'unknown.csv'), encoding='utf-8') as f:
        lines = f.read().splitlines()
    assert lines[0] == 'id,productDisplayName,best_match,similarity'
    assert len(lines) - 1 == relabel['unknown']
    assert all('Deo' in line for line in lines[1:])


def test_every_bad_row_is_quarantined_with_its_reason(tmp_path):
    catalog_dir = str(tmp_path / 'bad')
    good_ids, expected = bad_catalog.write(catalog_dir)
    output = str(tmp_path / 'out')
    manifest = prepare.run(['--catalog', catalog_dir, '--output', output])
    records = _quarantine(output)
    got = collections.defaultdict(set)
    for record in records:
        got[record['id']].add(record['reason'])
        assert record['detail'] and 'line' in record and record['line_number'] > 1
    assert {row_id: reasons for row_id, reasons in got.items()} == {
        row_id: {reason} for row_id, reason in expected.items()}
    assert sum(1 for r in records if r['id'] == '900020') == 2
    examples = read_examples(output)
    unknown = manifest['relabel']['unknown']
    assert set(examples) | {row_id for row_id in good_ids if row_id not in examples} == good_ids
    assert len(examples) + unknown == len(good_ids)
    assert manifest['rows_read'] == len(good_ids) + len(records)
    assert manifest['rows_kept'] == len(good_ids)
    assert not os.path.exists('/etc/passwd.jpg')
    with open(os.path.join(catalog_dir, 'styles.csv'), 'rb') as f:
        line_number = next(n for n, line in enumerate(f, 1) if line.startswith(bad_catalog.REPAIRED.encode()))
    assert manifest['repaired'] == {'count': 1, 'lines': [{'line_number': line_number, 'id': bad_catalog.REPAIRED}]}
    assert bad_catalog.REPAIRED in examples  # a repaired row trains like any other


def test_derived_taxonomy_is_written(tmp_path, synthetic_catalog):
    output = str(tmp_path / 'derived')
    manifest = prepare.run(['--catalog', synthetic_catalog, '--output', output, '--derive-taxonomy'])
    derived = taxonomy.load(os.path.join(output, 'taxonomy.json'))
    assert manifest['taxonomy_version'] == derived.rules_hash != taxonomy.load().rules_hash
    assert sum(n for *_, n in derived.combo_counts) == manifest['rows_read'] - len(manifest['missing_image_ids'])


def test_rerun_replaces_the_published_output(tmp_path, synthetic_catalog):
    output = str(tmp_path / 'again')
    prepare.run(['--catalog', synthetic_catalog, '--output', output])
    first = read_examples(output)
    prepare.run(['--catalog', synthetic_catalog, '--output', output])
    assert read_examples(output) == first


def test_refuses_to_replace_a_folder_that_is_not_an_output(tmp_path, synthetic_catalog):
    (tmp_path / 'precious.txt').write_text('keep me')
    with pytest.raises(UserError, match='refusing'):
        prepare.run(['--catalog', synthetic_catalog, '--output', str(tmp_path)])
    assert (tmp_path / 'precious.txt').read_text() == 'keep me'


def test_missing_images_folder_is_a_clear_error(tmp_path, synthetic_catalog):
    os.makedirs(tmp_path / 'cat')
    with open(os.path.join(synthetic_catalog, 'styles.csv'), 'rb') as src:
        (tmp_path / 'cat' / 'styles.csv').write_bytes(src.read())
    with pytest.raises(UserError, match='no images/'):
        prepare.run(['--catalog', str(tmp_path / 'cat'), '--output', str(tmp_path / 'out')])


@pytest.mark.slow  # other runners: worker processes, a job service
@pytest.mark.parametrize('runner_args', [
    ['--direct_running_mode=multi_processing', '--direct_num_workers=2'],
    ['--runner=PortableRunner', '--job_endpoint=embed', '--environment_type=LOOPBACK'],
], ids=['direct-multi-processing', 'portable-embedded-loopback'])
def test_runners_give_the_same_examples(tmp_path, synthetic_catalog, prepared_synthetic, runner_args):
    output = str(tmp_path / 'out')
    with beam_job_on_loopback():
        manifest = prepare.run(['--catalog', synthetic_catalog, '--output', output] + runner_args)
    reference_output, reference = prepared_synthetic
    assert read_examples(output) == read_examples(reference_output)
    strip = lambda m: {k: v for k, v in m.items() if k != 'runner'}  # noqa: E731
    assert strip(manifest) == strip(reference)
    assert manifest['runner'] != reference['runner']


def test_encoded_examples_hold_every_feature_the_trainer_and_the_report_read():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    rows = [catalog_row(id=str(i), class_name='Tshirts', masterCategory='Apparel', subCategory='Topwear',
                        articleType='Tshirts', productDisplayName=f'Nike Men Tshirt é{i}', gender='Men',
                        baseColour=f'Navy Blue é{i}') for i in range(3)]
    serialized = example_rules.encode_examples([(row, bytes([i]) * 10, i + 4) for i, row in enumerate(rows)])
    assert len(serialized) == 3
    for i, (row, record) in enumerate(zip(rows, serialized)):
        feature = tf.train.Example.FromString(record).features.feature
        assert feature['image'].bytes_list.value == [bytes([i]) * 10]
        assert feature['class_index'].int64_list.value == [i + 4]
        for name in ('id', 'class_name', *example_rules.EXAMPLE_TEXT_FEATURES):
            assert feature[name].bytes_list.value == [getattr(row, name).encode('utf-8')]
        assert len(feature) == 4 + len(example_rules.EXAMPLE_TEXT_FEATURES)


def test_overrides_reach_the_pipeline_as_a_file_and_the_job_graph_does_not_grow_with_them(tmp_path, synthetic_catalog):
    """On Flink and Dataflow the job graph is shipped to the cluster: 2,000 overrides must not be in it."""
    import apache_beam as beam  # pylint: disable=import-outside-toplevel
    from pipelines.storage import overrides_file  # pylint: disable=import-outside-toplevel
    from pipelines.rules import catalog, overrides  # pylint: disable=import-outside-toplevel
    sizes = {}
    for count in (1, 2000):
        path = str(tmp_path / f'overrides-{count}.csv')
        overrides_file.write(path, [dict(id=str(n), masterCategory='Apparel', subCategory='Topwear', articleType='Tops',
                                         decision='relabel', decided_by=f'reviewer-{n}@example.com',
                                         decided_at='2026-12-07T00:00:00', fingerprint='f', article_chosen_by='person')
                                    for n in range(count)])
        assert len(overrides_file.read(path)) == count and overrides_file.fieldnames(path) == list(overrides.COLUMNS)
        p = beam.Pipeline()
        prepare.build_pipeline(p, synthetic_catalog, catalog.read_header(synthetic_catalog), str(tmp_path / 'out'),
                               None, 'DirectRunner', path)
        graph = p.to_runner_api().SerializeToString()
        assert b'reviewer-1999@example.com' not in graph
        sizes[count] = len(graph)
    assert abs(sizes[2000] - sizes[1]) < 200, sizes


def test_an_overrides_file_that_lists_an_id_twice_or_spans_lines_is_refused_in_one_line(tmp_path):
    from pipelines.rules import overrides  # pylint: disable=import-outside-toplevel
    row = 'id,masterCategory,subCategory,articleType,decision,decided_by,decided_at,fingerprint\n'
    line = '7,Apparel,Topwear,Tops,relabel,Ana,2026-12-07,f\n'
    with pytest.raises(UserError, match='listed more than once'):
        overrides.parse(row + line + line, 'x.csv')
    with pytest.raises(UserError, match='over two lines'):
        overrides.parse(row + '7,Apparel,Topwear,Tops,relabel,"Ana\nB",2026-12-07,f\n', 'x.csv')
    assert overrides.parse_line(line.strip(), row.strip().split(','))['articleType'] == 'Tops'

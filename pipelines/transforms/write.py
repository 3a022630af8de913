"""Writing a job's outputs from Beam: quarantine records, prediction records, single result files (the
figures a launcher reads back), the prepare manifest.

Every result leaves the pipeline through a file sink into the output folder, never from inside a Map: on a
cluster the DoFns run on workers, and the output folder is the storage they share with the launcher.
"""
import json
import typing

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.rules import catalog, manifest, overrides, predictions
from pipelines.rules.taxonomy import Taxonomy
from pipelines.transforms.count import CountersFn, CountReasons, DuplicateImages, count_quarantined


@beam.typehints.with_input_types(catalog.Quarantined)
class WriteQuarantine(beam.PTransform):
    """Quarantine records -> OUTPUT/quarantine/quarantine-SSSSS-of-NNNNN.jsonl, one JSON object a line; each
    record also counts in the `quarantined_<reason>` counter (monitoring only: the counts that reconcile come
    from the records)."""

    def __init__(self, output_dir):
        super().__init__()
        self._prefix = FileSystems.join(output_dir, artifacts.QUARANTINE, artifacts.QUARANTINE)

    def expand(self, records):
        return (records
                | 'count per reason' >> beam.Map(count_quarantined)
                | 'to json lines' >> beam.Map(lambda r: json.dumps(r._asdict(), ensure_ascii=False, sort_keys=True))
                | 'write jsonl' >> beam.io.WriteToText(self._prefix, file_name_suffix='.jsonl'))


@beam.typehints.with_input_types(str)
class WriteFile(beam.PTransform):
    """A singleton PCollection of text -> exactly the file `path` (a single-shard text sink; the text's
    trailing line end is the sink's)."""

    def __init__(self, path):
        super().__init__()
        self._path = path

    def expand(self, text):
        return (text
                | 'strip last line end' >> beam.Map(lambda t: t[:-1] if t.endswith('\n') else t)
                | 'write file' >> beam.io.WriteToText(self._path, num_shards=1, shard_name_template=''))


@beam.typehints.with_input_types(typing.Dict[str, typing.Any])
class WriteJson(beam.PTransform):
    """A singleton PCollection of a dict -> the JSON file `path`, for the launcher to read back."""

    def __init__(self, path):
        super().__init__()
        self._path = path

    def expand(self, data):
        return (data
                | 'to json' >> beam.Map(lambda d: json.dumps(d, indent=1, ensure_ascii=False))
                | 'write json' >> WriteFile(self._path))


class WriteRecords(beam.PTransform):
    """Records (Predictions or CatalogRecords) -> their `columns` in PREFIX-SSSSS-of-NNNNN.csv (header row,
    formula-safe cells) and the same as .parquet."""

    def __init__(self, prefix, columns):
        super().__init__()
        self._prefix, self._columns = prefix, tuple(columns)

    def expand(self, records):
        columns = self._columns
        _ = (records
             | 'to csv line' >> beam.Map(predictions.csv_line, columns)
             | 'write csv' >> beam.io.WriteToText(self._prefix, file_name_suffix='.csv',
                                                  header=','.join(columns)))
        _ = (records
             | 'parquet columns only' >> beam.Map(predictions.as_dict, columns)
             | 'write parquet' >> beam.io.WriteToParquet(self._prefix, predictions.parquet_schema(columns),
                                                         file_name_suffix='.parquet'))
        return records


class WriteManifest(beam.PTransform):
    """The job's counting branches ({'taxonomy', 'rows_read', 'orphan_images', 'repaired' (ReadCatalog's), 'summaries',
    'quarantine', and 'overrides' and 'attribute_overrides' when those were given}) -> labels.txt, taxonomy.json and
    manifest.json under `output` (the manifest's `overrides` and `attribute_overrides` are None without them)."""

    def __init__(self, output, runner):
        super().__init__()
        self._output, self._runner = output, runner

    def expand(self, inputs):
        side = beam.pvalue
        summaries, quarantine = inputs['summaries'], inputs['quarantine']
        counts = summaries | 'count kept rows' >> beam.CombineGlobally(CountersFn(manifest.count_keys))
        by_reason = quarantine | 'count per reason' >> CountReasons()
        missing = (quarantine
                   | 'missing images only' >> beam.Filter(lambda r: r.reason == catalog.MISSING_IMAGE)
                   | 'missing id' >> beam.Map(lambda r: r.id))
        duplicates = summaries | 'find duplicate images' >> DuplicateImages()
        relabel_sample = (summaries
                          | 'relabelled only' >> beam.Filter(lambda s: s['relabel'] is not None)
                          | 'relabel record' >> beam.Map(lambda s: {'id': s['id'], 'class': s['class_name'],
                                                                    **s['relabel']})
                          | 'first relabelled ids' >> beam.combiners.Top.Of(
                              manifest.RELABEL_SAMPLE_SIZE, key=lambda r: int(r['id']), reverse=True))
        orphans = inputs['orphan_images'] | 'count orphan images' >> beam.combiners.Count.Globally()
        pbegin = beam.pvalue.PBegin(summaries.pipeline)
        outcomes = {name: (inputs[name]
                           | f'gather {name} outcomes' >> beam.combiners.ToList()
                           | f'summarize {name}' >> beam.Map(overrides.summary)
                           if name in inputs else pbegin | f'no {name}' >> beam.Create([None]))
                    for name in ('overrides', 'attribute_overrides')}
        taxonomy = inputs['taxonomy'] | 'taxonomy' >> beam.Map(Taxonomy.from_dict)
        _ = (taxonomy
             | 'taxonomy json' >> beam.Map(lambda t: t.to_json())
             | 'write taxonomy' >> WriteFile(FileSystems.join(self._output, artifacts.TAXONOMY)))
        _ = (taxonomy
             | 'class vocabulary' >> beam.Map(lambda t: ''.join(f'{name}\n' for name in t.classes))
             | 'write labels' >> WriteFile(FileSystems.join(self._output, artifacts.LABELS)))
        return (pbegin
                | 'once' >> beam.Create([None])
                | 'build manifest' >> beam.Map(
                    lambda _, *args: manifest.build(*args), side.AsSingleton(inputs['rows_read']),
                    side.AsSingleton(counts), side.AsDict(by_reason), side.AsList(missing), side.AsList(duplicates),
                    side.AsSingleton(relabel_sample), side.AsSingleton(orphans), side.AsSingleton(inputs['taxonomy']),
                    self._runner, side.AsSingleton(outcomes['overrides']), side.AsList(inputs['repaired']),
                    side.AsSingleton(outcomes['attribute_overrides']))
                | 'write manifest' >> WriteJson(FileSystems.join(self._output, artifacts.MANIFEST)))

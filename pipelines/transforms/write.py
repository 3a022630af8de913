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


@beam.typehints.with_input_types(catalog.Row)
class WriteRecords(beam.PTransform):
    """Records -> PREFIX-SSSSS-of-NNNNN.csv (header row, formula-safe cells) and the same as .parquet."""

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
             | 'parquet columns only' >> beam.Map(lambda r: {name: r.get(name) for name in columns})
             | 'write parquet' >> beam.io.WriteToParquet(self._prefix, predictions.parquet_schema(columns),
                                                         file_name_suffix='.parquet'))
        return records


class WriteManifest(beam.PTransform):
    """The job's counting branches -> labels.txt, taxonomy.json and manifest.json under `output` (the
    manifest's `overrides` is None when no overrides were given)."""

    def __init__(self, output, runner, taxonomy, read, summaries, quarantine, overrides=None):
        super().__init__()
        self._output, self._runner = output, runner
        self._taxonomy, self._read, self._summaries = taxonomy, read, summaries
        self._quarantine, self._overrides = quarantine, overrides

    def expand(self, pbegin):
        side = beam.pvalue
        counts = self._summaries | 'count kept rows' >> beam.CombineGlobally(CountersFn(manifest.count_keys))
        by_reason = self._quarantine | 'count per reason' >> CountReasons()
        missing = (self._quarantine
                   | 'missing images only' >> beam.Filter(lambda r: r.reason == catalog.MISSING_IMAGE)
                   | 'missing id' >> beam.Map(lambda r: r.id))
        duplicates = self._summaries | 'find duplicate images' >> DuplicateImages()
        relabel_sample = (self._summaries
                          | 'relabelled only' >> beam.Filter(lambda s: s['relabel'] is not None)
                          | 'relabel record' >> beam.Map(lambda s: {'id': s['id'], 'class': s['class_name'],
                                                                    **s['relabel']})
                          | 'first relabelled ids' >> beam.combiners.Top.Of(
                              manifest.RELABEL_SAMPLE_SIZE, key=lambda r: int(r['id']), reverse=True))
        orphans = self._read['orphan_images'] | 'count orphan images' >> beam.combiners.Count.Globally()
        outcomes = (self._overrides
                    | 'gather override outcomes' >> beam.combiners.ToList()
                    | 'summarize overrides' >> beam.Map(overrides.summary)
                    if self._overrides is not None else pbegin | 'no overrides' >> beam.Create([None]))
        taxonomy = self._taxonomy | 'taxonomy' >> beam.Map(Taxonomy.from_dict)
        _ = (taxonomy
             | 'taxonomy json' >> beam.Map(lambda t: t.to_json())
             | 'write taxonomy' >> WriteFile(FileSystems.join(self._output, artifacts.TAXONOMY)))
        _ = (taxonomy
             | 'class vocabulary' >> beam.Map(lambda t: ''.join(f'{name}\n' for name in t.classes))
             | 'write labels' >> WriteFile(FileSystems.join(self._output, artifacts.LABELS)))
        return (pbegin
                | 'once' >> beam.Create([None])
                | 'build manifest' >> beam.Map(
                    lambda _, *args: manifest.build(*args), side.AsSingleton(self._read['rows_read']),
                    side.AsSingleton(counts), side.AsDict(by_reason), side.AsList(missing), side.AsList(duplicates),
                    side.AsSingleton(relabel_sample), side.AsSingleton(orphans), side.AsSingleton(self._taxonomy),
                    self._runner, side.AsSingleton(outcomes), side.AsList(self._read['repaired']))
                | 'write manifest' >> WriteJson(FileSystems.join(self._output, artifacts.MANIFEST)))

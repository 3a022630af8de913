"""Writing a job's outputs from Beam: quarantine records, prediction records, the prepare manifest."""
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.rules import catalog, manifest, predictions
from pipelines.transforms.count import CountersFn, CountReasons, DuplicateImages


class WriteQuarantine(beam.PTransform):
    """Quarantine records -> OUTPUT/quarantine/quarantine-SSSSS-of-NNNNN.jsonl, one JSON object a line."""

    def __init__(self, output_dir):
        super().__init__()
        self._prefix = FileSystems.join(output_dir, artifacts.QUARANTINE, artifacts.QUARANTINE)

    def expand(self, records):
        return (records
                | 'to json lines' >> beam.Map(lambda r: json.dumps(r, ensure_ascii=False, sort_keys=True))
                | 'write jsonl' >> beam.io.WriteToText(self._prefix, file_name_suffix='.jsonl'))


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
    """The job's counting branches -> labels.txt, taxonomy.json and manifest.json under `output`."""

    def __init__(self, output, runner, taxonomy, rows_read, summaries, quarantine, orphan_images, overrides=None):
        super().__init__()
        self._output, self._runner = output, runner
        self._taxonomy, self._rows_read, self._summaries = taxonomy, rows_read, summaries
        self._quarantine, self._orphan_images, self._overrides = quarantine, orphan_images, overrides

    def expand(self, pbegin):
        side = beam.pvalue
        counts = self._summaries | 'count kept rows' >> beam.CombineGlobally(CountersFn(manifest.count_keys))
        by_reason = self._quarantine | 'count per reason' >> CountReasons()
        missing = (self._quarantine
                   | 'missing images only' >> beam.Filter(lambda r: r['reason'] == catalog.MISSING_IMAGE)
                   | 'missing id' >> beam.Map(lambda r: r['id']))
        duplicates = self._summaries | 'find duplicate images' >> DuplicateImages()
        relabel_sample = (self._summaries
                          | 'relabelled only' >> beam.Filter(lambda s: s['relabel'] is not None)
                          | 'relabel record' >> beam.Map(lambda s: {'id': s['id'], 'class': s['class_name'],
                                                                    **s['relabel']})
                          | 'first relabelled ids' >> beam.combiners.Top.Of(
                              manifest.RELABEL_SAMPLE_SIZE, key=lambda r: int(r['id']), reverse=True))
        orphans = self._orphan_images | 'count orphan images' >> beam.combiners.Count.Globally()
        outcomes = (self._overrides | 'gather override outcomes' >> beam.combiners.ToList()
                    if self._overrides is not None else pbegin | 'no overrides' >> beam.Create([None]))
        return (pbegin
                | 'once' >> beam.Create([None])
                | 'write manifest' >> beam.Map(
                    lambda _, *args: manifest.write(*args), self._output, self._runner,
                    side.AsSingleton(self._rows_read), side.AsSingleton(counts), side.AsDict(by_reason),
                    side.AsList(missing), side.AsList(duplicates), side.AsSingleton(relabel_sample),
                    side.AsSingleton(orphans), side.AsSingleton(self._taxonomy), side.AsSingleton(outcomes)))

"""TFDV statistics of catalog rows, computed in Beam."""
import apache_beam as beam
import tensorflow_data_validation as tfdv

from pipelines.rules import catalog, schema


@beam.typehints.with_input_types(catalog.CatalogRow)
class GenerateStatistics(beam.PTransform):
    """Rows -> a singleton PCollection of TFDV DatasetFeatureStatisticsList."""

    def expand(self, rows):
        return (rows
                | 'batch rows' >> beam.BatchElements(min_batch_size=100, max_batch_size=1000)
                | 'to record batches' >> beam.Map(schema.to_record_batch)
                | 'tfdv statistics' >> tfdv.GenerateStatistics(tfdv.StatsOptions(num_top_values=50)))

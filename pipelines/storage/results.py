"""A scoring run's result files: summary.json, summary.txt and the picture of the Unknown items the model
labelled, written by the launcher once the pipeline's own counts are read back."""
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.rules import summaries
from pipelines.storage import figures, files


def finish_summary(output, summary, model, runner, wall_seconds, text=summaries.summary_text):
    """Adds what only the driver knows (versions, runner, timing), draws the sample grid, writes
    summary.json and, as `text` renders it, summary.txt."""
    summary = dict(summary, model_version=model.export_id, model_path=model.path,
                   taxonomy_version=model.taxonomy_hash, runner=runner, wall_seconds=round(wall_seconds, 2),
                   images_per_second=round(summary['scored'] / wall_seconds, 2) if wall_seconds else 0.0)
    figures.image_grid(summary['unknown_labelled']['sample'], FileSystems.join(output, artifacts.UNKNOWN_LABELLED),
                       'Items with an Unknown given class, as the model labels them',
                       lambda item: f'{item["id"]}\n{item["predicted_class"]} {item["confidence"]:.2f}')
    files.write_json(FileSystems.join(output, artifacts.SUMMARY), summary)
    files.write_text(FileSystems.join(output, artifacts.SUMMARY_TEXT), text(summary))
    return summary

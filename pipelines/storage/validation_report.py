"""The validate stage's files: the baseline statistics it reads, and the report it writes (anomalies.pbtxt,
anomalies.txt and the manifest with its verdict, built by rules/validation.py)."""
import tensorflow_data_validation as tfdv
from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.rules import validation
from pipelines.storage import files


def load_baseline(path):
    """The previous statistics to check drift against (None: no baseline); UserError for a bad file."""
    if path is None:
        return None
    if not FileSystems.exists(path):
        raise UserError(f'--baseline {path!r} does not exist')
    try:
        return tfdv.load_stats_binary(path)
    except Exception as e:  # pylint: disable=broad-except  (TFDV raises several types on a bad file)
        raise UserError(f'--baseline {path!r} is not a TFDV statistics file: {e}') from e


def write(output, counts, anomalies, breaking, warnings, baseline_path):
    """Writes the report into `output`; returns the manifest dict."""
    tfdv.write_anomalies_text(anomalies, FileSystems.join(output, artifacts.ANOMALIES_PBTXT))
    files.write_text(FileSystems.join(output, artifacts.ANOMALIES_TXT), validation.anomalies_text(breaking, warnings))
    report = validation.report(counts, breaking, warnings, baseline_path)
    files.write_json(FileSystems.join(output, artifacts.MANIFEST), report)
    return report

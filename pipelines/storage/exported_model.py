"""What a scoring job needs to know of an exported model before loading its weights: which export, which
classes, which taxonomy, whether it was blessed."""
import dataclasses
import json
import os

from apache_beam.io.filesystems import FileSystems

from pipelines import artifacts
from pipelines.errors import UserError
from pipelines.storage import files, models
from pipelines.rules import attributes as attributes_lib, leaves as leaves_lib, predictions
from pipelines.rules.taxonomy import Taxonomy


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """An export folder and what its assets.extra/ says: the vocabulary and taxonomy it was trained under, and
    its calibration (the export serves probabilities already divided by `temperature`; the flag threshold on
    the given class's probability was fitted on the val split). An export made before calibration existed
    has temperature 1 and no flag threshold (1.0)."""
    path: str
    export_id: str  # the export's folder name: seconds since the epoch when it was exported (`model_version` in outputs)
    classes: tuple
    taxonomy: dict
    temperature: float = 1.0
    flag_max_given_probability: float = 1.0
    flag_fit: dict = None  # how the threshold was fitted (rules/flag_fit.fit_flag_threshold)
    # a full-labels model (trainer/model.FULL_LABELS): its leaves, its articleType flag's threshold and its
    # heads' own thresholds ({'image_only': {'class': .., 'type': ..}, 'name_only': ..}); None for an image-only one
    leaves: leaves_lib.Leaves = None
    flag_type_max_given_probability: float = 1.0
    evidence_thresholds: dict = None
    # the bar of each kind of evidence short of both heads ({'class': {'image': .., 'name': .., 'combined': ..},
    # 'type': ..}); None for a release fitted before such bars, whose flags all share one threshold
    single_evidence_thresholds: dict = None
    # the attributes it predicts (rules/attributes.py) and each flagged one's thresholds ({attribute: {'flag': ..,
    # 'image': .., 'name': .., 'bars': {kind of evidence: ..}}}); None for a release without attribute heads, whose
    # attribute columns stay empty
    attributes: attributes_lib.Attributes = None
    attribute_thresholds: dict = None

    @property
    def full_labels(self):
        """Whether it predicts the whole label from the image and the name (else the Class from the image)."""
        return self.leaves is not None

    @property
    def kind(self):
        """What `models` and the summaries call it."""
        return 'full labels (image + name)' if self.full_labels else 'image only (Class level)'

    @property
    def flag_warning(self):
        """Why its flags cannot be trusted to find mislabels, or None (predictions.flag_warning)."""
        return predictions.flag_warning(self.flag_max_given_probability, self.flag_fit)

    @property
    def taxonomy_hash(self):
        """The hash of the taxonomy's rules it was trained under (`taxonomy_version` in outputs)."""
        return self.taxonomy['version']

    @property
    def model_dir(self):
        """The training run's folder (export/<version>/ lives in it): where blessing.json is."""
        return os.path.dirname(os.path.dirname(self.path.rstrip('/')))


def newest_version(path):
    """`path` itself when it is an export; given the folder of versions (MODEL_DIR/export), its highest
    numbered version, as TF Serving picks from a base path; given a models folder (MODELS/CURRENT), the
    export of the release CURRENT names."""
    path = models.resolve_export(path)
    if FileSystems.exists(FileSystems.join(path, artifacts.SAVED_MODEL)):
        return path
    matches = FileSystems.match([FileSystems.join(path, '*', artifacts.SAVED_MODEL)])[0].metadata_list
    versions = [m.path.rstrip('/').split('/')[-2] for m in matches]
    numbered = sorted((v for v in versions if v.isdigit()), key=int)
    return FileSystems.join(path, numbered[-1]) if numbered else path


def load_exported(path):
    """Reads an export's metadata (not its weights); UserError when `path` is not one of our exports.
    `path` is an export, or the folder of numbered exports (the highest is used)."""
    path = newest_version(path)
    extra = FileSystems.join(path, artifacts.ASSETS_EXTRA)
    texts = {}
    for name in (artifacts.LABELS, artifacts.TAXONOMY):
        try:
            texts[name] = files.read_text(FileSystems.join(extra, name))
        except (IOError, OSError) as e:
            raise UserError(f'{path!r} is not an exported model: cannot read assets.extra/{name} ({e})') from e
    taxonomy = Taxonomy.from_dict(json.loads(texts[artifacts.TAXONOMY]))
    classes = tuple(texts[artifacts.LABELS].splitlines())
    if classes != taxonomy.classes:
        raise UserError(f'{path}: labels.txt does not match the classes of its taxonomy.json')
    calibration_path = FileSystems.join(extra, artifacts.CALIBRATION)
    calibration = files.read_json(calibration_path) if FileSystems.exists(calibration_path) else {}
    leaves_path = FileSystems.join(extra, artifacts.LEAVES)
    leaves = leaves_lib.Leaves.from_json(files.read_text(leaves_path)) if FileSystems.exists(leaves_path) else None
    attributes_path = FileSystems.join(extra, artifacts.ATTRIBUTES)
    attributes = (attributes_lib.Attributes.from_json(files.read_text(attributes_path))
                  if FileSystems.exists(attributes_path) else None)
    attribute_thresholds = {attribute: {'flag': fit['flag_max_given_probability'],
                                        'image': fit['evidence']['image_only'], 'name': fit['evidence']['name_only'],
                                        'bars': fit.get('single_evidence', {})}
                            for attribute, fit in calibration.get('attributes', {}).items()}
    return ExportedModel(path=path, export_id=os.path.basename(path), classes=classes, taxonomy=taxonomy.to_dict(),
                         temperature=calibration.get('temperature', 1.0),
                         flag_max_given_probability=calibration.get('flag_max_given_probability', 1.0),
                         flag_fit=calibration.get('flag_fit'), leaves=leaves,
                         flag_type_max_given_probability=calibration.get('flag_type_max_given_probability', 1.0),
                         evidence_thresholds=calibration.get('evidence'),
                         single_evidence_thresholds=calibration.get('single_evidence'), attributes=attributes,
                         attribute_thresholds=attribute_thresholds if attributes else None)


def read_blessing(model):
    """The training run's blessing.json, or None when it has none."""
    path = FileSystems.join(model.model_dir, artifacts.BLESSING)
    return files.read_json(path) if FileSystems.exists(path) else None

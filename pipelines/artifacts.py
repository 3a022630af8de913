"""The name of every file and folder a job or the trainer writes or reads, defined once.

    catalog/       STYLES, IMAGES/<id>.jpg                        (the input, Kaggle layout)
    prepared/      TFRECORDS/{train,val,test}-*.tfrecord.gz, LABELS, TAXONOMY, UNKNOWN_CSV, QUARANTINE/, MANIFEST
    validation/    STATS, ANOMALIES_PBTXT, ANOMALIES_TXT, QUARANTINE/, MANIFEST
    model dir      MODEL_FILE, METRICS, CLASSIFICATION_REPORT_*, CONFUSION_MATRIX_*, MISCLASSIFIED, BLESSING,
                   CALIBRATION, TRAINING_LOG, TRAINING_RUN,
                   LEAVES and ATTRIBUTES (the full-labels model), EXPORT/<version>/ASSETS_EXTRA/{LABELS, TAXONOMY,
                   LINEAGE, CALIBRATION, LEAVES, ATTRIBUTES}
    scores/        PREDICTIONS-*.csv/.parquet, QUARANTINE/, UNKNOWN_LABELLED, SUMMARY, SUMMARY_TEXT
    audit/         AUDIT_CSV, AUDIT_PARQUET, AUDIT_OVERLAP, NEIGHBOURS, FOLDS_CSV,
                   AUDIT_MODELS/fold-<k>/ (model dirs, AUDIT_OUT_OF_SAMPLE), SUMMARY, SUMMARY_TEXT,
                   [AUDIT_FOLD_DATA/{PREPARED, fold-<k>}/]
    state/         LOCK, LOCK_GUARD, CURRENT, REVIEWS,
                   RUNS/<run-id>/{CATALOG-*.csv/.parquet, VALIDATION/, QUARANTINE/, SUMMARY, ...},
                   STATE_TMP/<run-id>/DECISIONS (while a run scores; never published)
"""
# Package data (schemas/)
SCHEMA = 'styles_schema.pbtxt'

# The catalog
STYLES = 'styles.csv'
IMAGES = 'images'

# Every job
MANIFEST = 'manifest.json'
PUBLISHING = 'PUBLISHING'  # on an object store, present while publish replaces an output's objects
QUARANTINE = 'quarantine'

# prepare
TFRECORDS = 'tfrecords'
TFRECORD_SUFFIX = '.tfrecord.gz'
LABELS = 'labels.txt'
TAXONOMY = 'taxonomy.json'
NEIGHBOURS = 'neighbours.csv'  # declared neighbour articleTypes, beside the taxonomy (schemas/)
ATTRIBUTE_GROUPS = 'attribute_groups.json'  # declared neighbour colours and usages (schemas/)
JUDGED = 'judged.json'  # the audit's latest blind-judged precision on real errors, quoted by the audit (schemas/)
UNKNOWN = 'unknown'  # unknown.csv, written as one shard
UNKNOWN_CSV = UNKNOWN + '.csv'

# validate
STATS = 'stats.pb'
ANOMALIES_PBTXT = 'anomalies.pbtxt'
ANOMALIES_TXT = 'anomalies.txt'

# train and evaluate
MODEL_FILE = 'model.keras'
METRICS = 'metrics.json'
CLASSIFICATION_REPORT_TXT = 'classification_report.txt'
CLASSIFICATION_REPORT_JSON = 'classification_report.json'
CONFUSION_MATRIX_CSV = 'confusion_matrix.csv'
CONFUSION_MATRIX_PNG = 'confusion_matrix.png'
MISCLASSIFIED = 'misclassified.png'
BLESSING = 'blessing.json'
CALIBRATION = 'calibration.json'  # the temperature, the flag threshold, reliability and risk-coverage figures
TRAINING_LOG = 'training_log.csv'
TRAINING_RUN = 'training_run.json'
BEST_CHECKPOINT = 'checkpoints/best.keras'
BACKUP = 'backup'
EXPORT = 'export'
SAVED_MODEL = 'saved_model.pb'
ASSETS_EXTRA = 'assets.extra'
SERVING_SIGNATURE = 'serving_default'
LINEAGE = 'lineage.json'
LEAVES = 'leaves.json'  # the full-labels model's articleTypes, their parents and Classes (rules/leaves.py)
ATTRIBUTES = 'attributes.json'  # the full-labels model's gender, colour, usage and season values (rules/attributes.py)

# retrain and the models folder (MODELS/CURRENT, MODELS/<version>/)
RETRAIN = 'retrain.json'  # a version's summary, written last: the version is complete
PREPARED = 'prepared'
OVERRIDES = 'label_overrides.csv'
ATTRIBUTE_OVERRIDES = 'attribute_overrides.csv'
METRICS_PROM = 'metrics.prom'  # Prometheus node-exporter textfile, in STATE/ and MODELS/
NIGHTLY_ATTEMPT_PROM = 'nightly_attempt.prom'  # STATE/: every nightly attempt, failed ones too, and its exit code

# score and nightly
PREDICTIONS = 'predictions'
SUMMARY = 'summary.json'
SUMMARY_TEXT = 'summary.txt'
UNKNOWN_LABELLED = 'unknown_labelled.png'

# audit (OUTPUT/: AUDIT_CSV, AUDIT_PARQUET, AUDIT_OVERLAP, NEIGHBOURS, FOLDS_CSV, AUDIT_MODELS/fold-<k>/, SUMMARY,
# SUMMARY_TEXT)
AUDIT_CSV = 'audit.csv'
AUDIT_PARQUET = 'audit.parquet'
AUDIT_OVERLAP = 'overlap.csv'  # the taxonomy overlap report's pairs (rules/overlap.py)
FOLDS_CSV = 'folds.csv'  # every labelled item's fold, and whether the models of other folds hold it out
AUDIT_MODELS = 'models'
AUDIT_OUT_OF_SAMPLE = 'out_of_sample.npz'  # in each fold's model dir: its fold's ids, given leaves, heads (--rerank)
AUDIT_FOLD_DATA = 'fold-data'  # with --keep-fold-data: PREPARED/ and fold-<k>/, the data each model saw

# the nightly state folder
LOCK = 'LOCK'
LOCK_GUARD = 'LOCK.guard'  # flocked while a run takes, renews or releases LOCK (local state folders)
REVIEWS = 'reviews.sqlite'  # the review app's decisions, beside the versions it reviews
CURRENT = 'CURRENT'
RUNS = 'runs'
STATE_TMP = 'tmp'  # a run's files for its workers that are not part of what it publishes
DECISIONS = 'decisions.jsonl'  # reviewers' settling decisions, for the scoring pipeline's side input
CATALOG = 'catalog'
VALIDATION = 'validation'


def tfrecord_pattern(prepared_dir, split):
    """The glob of one split's TFRecord shards in a prepared folder."""
    return f'{prepared_dir.rstrip("/")}/{TFRECORDS}/{split}-*{TFRECORD_SUFFIX}'
